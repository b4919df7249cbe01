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
from towers.towers import CandidateTower, QueryTower

CHUNK_USER = "user"  # the key only chunk batches carry: the user of each target position


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
      metrics: factorized top-K metrics for evaluation (computed only when not training).

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
        metrics: list | None = None,
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
        self.task = tfrs.tasks.Retrieval(loss=InBatchSoftmax(), metrics=metrics, temperature=temperature)

    def score_mask(self, features: dict[str, tf.Tensor]) -> tf.Tensor | None:
        """[B, B] bool, False where candidate j must not count as a negative of query i (None: keep all)."""
        targets = features["target"]
        keeps = []
        if self.remove_accidental_hits:
            keeps.append(self.accidental_hits(targets))
        if self.first_rated is not None:
            keeps.append(self.future_negatives(self.first_rated(targets), features["query_timestamp"]))
        if CHUNK_USER in features:
            keeps.append(self.same_user_targets(features[CHUNK_USER], features["weight"]))
        return negatives.score_mask(keeps)

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        if CHUNK_USER in features:  # a chunk batch (pipelines.training.input): one query per target position
            queries = self.query_tower.call_on_chunks(features)
            features = {k: tf.reshape(features[k], [-1]) for k in ("target", "query_timestamp", "weight", CHUNK_USER)}
        else:
            queries = self.query_tower(features, training=training)
        targets = features["target"]
        return self.task(
            queries,
            self.candidate_tower(targets, training=training),
            sample_weight=features.get("weight"),
            candidate_sampling_probability=(
                None if self.sampling_probability is None else self.sampling_probability(targets)
            ),
            candidate_ids=targets,
            compute_metrics=not training,
            compute_batch_metrics=False,
            score_mask=self.score_mask(features),
        )
