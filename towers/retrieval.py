"""The two-tower retrieval model: TFRS Retrieval task over in-batch negatives.

`compute_loss` joins the two towers and the task: it embeds the batch's queries (one per example, or one
per target position of a chunk batch) and its candidates, and hands TFRS the logQ probabilities and one
score mask built from the negative techniques of towers/negatives.py.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

from towers import negatives
from towers.layers import ConstantLookup
from towers.members import split_members
from towers.towers import CandidateTower, QueryTower

CHUNK_USER = "user"  # the key only chunk batches carry: the user of each target position
QUERY_HISTORY = "query_history"  # [Q, N] each query's history movies, for HistoryNegatives
TARGET_POPULARITY = "target_popularity"  # [Q, 3] the targets' popularity as of their time (popularity_as_of)
TARGET_NEW = "target_new"  # [Q] bool: the target movie was new at its time, its id hidden (hide_new_ids)


@keras.utils.register_keras_serializable("towers")
class InBatchSoftmax(keras.losses.Loss):
    """Softmax cross-entropy with sparse labels for tfrs.tasks.Retrieval.

    Retrieval's labels are always `tf.eye`: query i's positive is candidate i. Reading that as a sparse
    label avoids the dense [B, B] one-hot cross-entropy (~190 ms vs ~145 ms a step at batch 4096 on
    this CPU, measured for the issue); accidental-hit removal and the logQ correction still happen in
    the task before this loss sees the logits.

    Per-example losses are divided by the global batch size (this replica's batch times the replicas in
    sync) and summed, so gradients summed across replicas are the mean gradient, as
    `tf.nn.compute_average_loss` does; use it with `reduction=SUM`.
    """

    def __init__(self, reduction: str = keras.losses.Reduction.SUM, name: str = "in_batch_softmax") -> None:
        super().__init__(reduction=reduction, name=name)

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        batch = tf.shape(y_pred)[0]
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.range(batch), logits=y_pred)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return per_example / tf.cast(batch * replicas, per_example.dtype)


class TwoTowerModel(tfrs.Model):
    """Query tower + candidate tower + tfrs.tasks.Retrieval.

    Args:
      query_tower, candidate_tower: the towers.
      temperature: softmax temperature over cosine scores.
      sampling_probability: [n + 1] probability that a movie appears as an in-batch candidate (its share
        of training positives); when given, logits are corrected by -log(p) (logQ, Yi et al. 2019).
      remove_accidental_hits: ignore in-batch negatives that are the query's own positive movie.
      first_rated: [n + 1] int64 time of each movie's first training rating; when given, an in-batch
        negative first rated after the query's time is left out of that query's softmax: it could not have
        been the answer then, and pushing it down there would teach the towers that new movies are bad.
      history_negatives: leave a query's own history movies out of its negatives (the evaluation never
        ranks them).
      catalog_negatives: a negatives.CatalogNegatives layer, or None: negatives from the catalog besides the
        in-batch ones. When it gives every pool movie each step (a full softmax over the movies rated
        before T_val), the in-batch negatives are left out (they would count those movies twice) and no
        logQ is needed; when it draws a sample, each candidate's logits are corrected by the log of its
        expected count among the negatives: B x p(movie) in the batch + its expected draws from the pool
        (the latter for the in-batch columns only when the pool can hold the targets).
      metrics: factorized top-K metrics for evaluation (computed only when not training).
      members: how many towers each of query_tower and candidate_tower holds side by side (towers.members):
        the embeddings are split back and each member pair gets the task's loss of its own, over the same
        negatives, mask and logQ; the losses are summed.

    Chunk batches (pipelines.training.input) also leave a user's other targets and the padding positions out.
    All exclusions go to Retrieval as one `score_mask`: a single select over the [B, B] logits instead
    of the task's own accidental-hit pass plus a second masking pass.
    """

    def __init__(
        self,
        query_tower: QueryTower,
        candidate_tower: CandidateTower,
        *,
        temperature: float = 0.05,
        sampling_probability: np.ndarray | None = None,
        remove_accidental_hits: bool = True,
        first_rated: np.ndarray | None = None,
        history_negatives: bool = False,
        catalog_negatives: negatives.CatalogNegatives | None = None,
        metrics: list | None = None,
        members: int = 1,
    ) -> None:
        super().__init__()
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.sampling_probability = (
            None
            if sampling_probability is None
            else ConstantLookup(np.asarray(sampling_probability, np.float32), name="sampling_probability")
        )
        self.first_rated = (
            None if first_rated is None else ConstantLookup(np.asarray(first_rated, np.int64), name="first_rated")
        )
        self.remove_accidental_hits = remove_accidental_hits
        self.accidental_hits = negatives.AccidentalHits(name="accidental_hits")
        self.future_negatives = negatives.FutureNegatives(name="future_negatives")
        self.same_user_targets = negatives.SameUserTargets(name="same_user_targets")
        self.history_negatives = None
        if history_negatives:
            rows = candidate_tower.lookup["slots"].table_shape[0]  # the dense movie index space, n + 1
            self.history_negatives = negatives.HistoryNegatives(rows, name="history_negatives")
        self.catalog_negatives = catalog_negatives
        self.members = members
        self.task = tfrs.tasks.Retrieval(loss=InBatchSoftmax(), metrics=metrics, temperature=temperature)

    def score_mask(self, features: dict[str, tf.Tensor], pool: tf.Tensor | None = None) -> tf.Tensor | None:
        """[B, B (+ P)] bool, False where candidate j must not count as a negative of query i (None: keep
        all); the P columns are the catalog negatives `pool`, after the batch's own targets."""
        targets = features["target"]
        batch = tf.shape(targets)[0]
        if pool is not None and self.catalog_negatives.size <= 0:
            keeps = [tf.zeros([batch, batch], tf.bool)]  # the pool holds every movie once: no in-batch copies
        else:
            keeps = self.in_batch_keeps(features)
        if pool is None:
            return negatives.score_mask(keeps)
        from_pool = [self.accidental_hits(targets, pool)]
        if self.first_rated is not None:
            from_pool.append(self.future_negatives(self.first_rated(pool), features["query_timestamp"]))
        if self.history_negatives is not None:
            from_pool.append(self.history_negatives(features[QUERY_HISTORY], pool))
        in_batch = negatives.all_of(keeps) if keeps else tf.ones([batch, batch], tf.bool)
        return negatives.score_mask([tf.concat([in_batch, negatives.all_of(from_pool)], axis=1)])

    def in_batch_keeps(self, features: dict[str, tf.Tensor]) -> list[tf.Tensor]:
        """The [B, B] keeps of the in-batch negative techniques that are on."""
        targets = features["target"]
        keeps = []
        if self.remove_accidental_hits:
            keeps.append(self.accidental_hits(targets))
        if self.first_rated is not None:
            keeps.append(self.future_negatives(self.first_rated(targets), features["query_timestamp"]))
        if CHUNK_USER in features:
            keeps.append(self.same_user_targets(features[CHUNK_USER], features["weight"]))
        if self.history_negatives is not None:
            keeps.append(self.history_negatives(features[QUERY_HISTORY], targets))
        return keeps

    def candidate_probability(self, candidates: tf.Tensor, batch: tf.Tensor) -> tf.Tensor | None:
        """[C] the logQ correction's probability of each candidate column (None: no correction)."""
        if self.catalog_negatives is None:
            return None if self.sampling_probability is None else self.sampling_probability(candidates)
        if self.catalog_negatives.size <= 0 or self.sampling_probability is None:
            return None  # every pool movie once: the negatives are the catalog itself
        expected = tf.cast(batch, tf.float32) * self.sampling_probability(candidates)
        drawn = self.catalog_negatives.inclusion()
        if self.catalog_negatives.holds_targets:
            return expected + drawn
        return expected + tf.where(tf.range(tf.shape(candidates)[0]) >= batch, drawn, 0.0)  # pool columns only

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        history = None
        if CHUNK_USER in features:  # a chunk batch (pipelines.training.input): one query per target position
            queries = self.query_tower.call_on_chunks(features)
            if self.history_negatives is not None:
                history = chunk_histories(features["context_movies"], features["history_mask"])
            popularity = features.get(TARGET_POPULARITY)
            keys = ("target", "query_timestamp", "weight", CHUNK_USER, TARGET_NEW)
            features = {k: tf.reshape(features[k], [-1]) for k in keys if k in features}
            if popularity is not None:
                features[TARGET_POPULARITY] = tf.reshape(popularity, [-1, popularity.shape[-1]])
        else:
            queries = self.query_tower(features, training=training)
            history = features["history_movies"]
        features = {**features, QUERY_HISTORY: history}
        targets = features["target"]
        candidates = self.candidate_tower(
            targets, training=training, popularity=features.get(TARGET_POPULARITY), new=features.get(TARGET_NEW)
        )
        candidate_ids, pool = targets, None
        if self.catalog_negatives is not None:
            pool = self.catalog_negatives.draw()
            candidates = tf.concat([candidates, self.candidate_tower(pool, training=training)], axis=0)
            candidate_ids = tf.concat([targets, pool], axis=0)
        probability = self.candidate_probability(candidate_ids, tf.shape(targets)[0])
        score_mask = self.score_mask(features, pool)
        losses = [
            self.task(
                member_queries,
                member_candidates,
                sample_weight=features.get("weight"),
                candidate_sampling_probability=probability,
                candidate_ids=candidate_ids,
                compute_metrics=not training,
                compute_batch_metrics=False,
                score_mask=score_mask,
            )
            for member_queries, member_candidates in zip(
                split_members(queries, self.members), split_members(candidates, self.members), strict=True
            )
        ]
        return tf.add_n(losses)


def chunk_histories(context_movies: tf.Tensor, history_mask: tf.Tensor) -> tf.Tensor:
    """[C * L, M] each target position's history movies of a chunk batch (0 outside its band)."""
    movies = tf.where(tf.cast(history_mask, tf.bool), tf.cast(context_movies, tf.int32)[:, None, :], 0)
    return tf.reshape(movies, [-1, tf.shape(movies)[-1]])
