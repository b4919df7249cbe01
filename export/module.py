"""The servable tf.Module: raw MovieLens ids in, recommendations out, the query tower and an index inside.

Signatures (B = batch, L = history columns, any L; K and d fixed at export):

- `recommend` (also `serving_default`): history_movie_ids int64 [B, L] (0 = padding),
  history_ratings float32 [B, L], history_timestamps int64 [B, L], query_timestamp int64 [B]
  -> movie_ids int64 [B, K], scores float32 [B, K]; the history's movies are never recommended.
- `user_embedding`: the same inputs -> embedding float32 [B, d].
- `movie_embedding`: movie_ids int64 [B] -> embedding float32 [B, d] (zeros for an unknown id).
- `similar_movies`: movie_ids int64 [B] -> movie_ids int64 [B, K], scores float32 [B, K], the movie
  itself excluded (an unknown id gives movie_ids 0 and scores 0).

Unknown history ids count as padding. The history may come in any order: the signature sorts it most
recent first (ties by movie id, the protocol's order) before the query tower keeps its last N ratings.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from export import signatures
from export.config import INDEXES, ScannParams
from export.index import drop_excluded, exact_top_k, scann_layer


def _spec(tensor: signatures.Tensor) -> tf.TensorSpec:
    return tf.TensorSpec([None] * len(tensor.shape), tf.as_dtype(tensor.dtype), name=tensor.name)


HISTORY_SPECS = {t.name: _spec(t) for t in signatures.HISTORY_INPUTS}
(MOVIE_SPEC,) = (_spec(t) for t in signatures.MOVIE_INPUTS)


class RetrievalModule(tf.Module):
    """Query tower + candidate embeddings + (ScaNN | brute-force) index, all keyed by raw movie ids.

    Args:
      query_tower: the trained query tower (a QueryTower, its Members, or either with a LinearQuery after it;
        dense movie index inputs).
      movie_ids: [n + 1] int64 raw MovieLens id per dense index (0 at the padding row).
      embeddings: [n + 1, d] float32 candidate embeddings, row 0 zeros.
      movie_dim: the leading columns that are the unit movie vector (the rest, with the towers' release_age,
        are the release-age code, which only a query's time code reads); similar_movies compares those.
      k: results per query of `recommend` and `similar_movies`.
      history_length: ratings the query tower was trained on (the most recent are kept).
      index: "scann" or "brute_force".
      scann: ScaNN parameters adapted to the catalog (used when index == "scann").
    """

    def __init__(
        self,
        query_tower: keras.Model,
        movie_ids: np.ndarray,
        embeddings: np.ndarray,
        *,
        k: int,
        history_length: int,
        index: str,
        scann: ScannParams | None = None,
        movie_dim: int | None = None,
    ) -> None:
        super().__init__(name=f"movielens_{index}")
        if index not in INDEXES:
            raise ValueError(f"index must be one of {INDEXES}, got {index!r}")
        num_movies = len(movie_ids) - 1
        self.query_tower = query_tower
        self.k, self.history_length, self.index_kind = k, history_length, index
        dim = embeddings.shape[1]
        self.movie_columns = tf.constant(np.arange(dim) < (dim if movie_dim is None else movie_dim), tf.float32)
        self.raw_ids = tf.Variable(np.asarray(movie_ids, np.int64), trainable=False, name="raw_ids")
        self.embeddings = tf.Variable(np.asarray(embeddings, np.float32), trainable=False, name="embeddings")
        self.dense_of = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(movie_ids[1:], tf.int64), tf.range(1, num_movies + 1, dtype=tf.int64)
            ),
            default_value=0,
            name="dense_of",
        )
        self.scann = None
        if index == "scann":
            params = scann or ScannParams()
            self.reorder = params.scann_reorder
            self.scann = scann_layer(embeddings[1:], np.arange(1, num_movies + 1, dtype=np.int32), params, k)
        # Plain graph code (explicit tf.cond): no AutoGraph, which would re-read and convert the source.
        self.recommend = tf.function(self._recommend, input_signature=[HISTORY_SPECS], autograph=False)
        self.user_embedding = tf.function(self._user_embedding, input_signature=[HISTORY_SPECS], autograph=False)
        self.movie_embedding = tf.function(self._movie_embedding, input_signature=[MOVIE_SPEC], autograph=False)
        self.similar_movies = tf.function(self._similar_movies, input_signature=[MOVIE_SPEC], autograph=False)

    def signatures(self) -> dict:
        """Concrete functions for tf.saved_model.save(..., signatures=...)."""
        recommend = self.recommend.get_concrete_function()
        return {
            "serving_default": recommend,
            "recommend": recommend,
            "user_embedding": self.user_embedding.get_concrete_function(),
            "movie_embedding": self.movie_embedding.get_concrete_function(),
            "similar_movies": self.similar_movies.get_concrete_function(),
        }

    def _dense(self, movie_ids: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.dense_of.lookup(tf.cast(movie_ids, tf.int64)), tf.int32)

    def _query_features(self, inputs: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """Query tower features ([B, min(L, N)], most recent first) and the dense history [B, L]."""
        dense = self._dense(inputs["history_movie_ids"])
        valid = dense > 0
        timestamps = tf.where(valid, inputs["history_timestamps"], tf.constant(tf.int64.min, tf.int64))
        # Two stable sorts = one sort by (timestamp, movie) descending, padding (and unknown ids) last.
        by_movie = tf.argsort(dense, axis=1, direction="DESCENDING", stable=True)
        by_time = tf.argsort(tf.gather(timestamps, by_movie, batch_dims=1), axis=1, direction="DESCENDING", stable=True)
        order = tf.gather(by_movie, by_time, batch_dims=1)[:, : self.history_length]
        kept = tf.gather(valid, order, batch_dims=1)
        features = {
            "history_movies": tf.gather(dense, order, batch_dims=1),
            "history_ratings": tf.where(kept, tf.gather(inputs["history_ratings"], order, batch_dims=1), 0.0),
            "history_timestamps": tf.where(
                kept, tf.gather(inputs["history_timestamps"], order, batch_dims=1), tf.constant(0, tf.int64)
            ),
            "query_timestamp": inputs["query_timestamp"],
        }
        return features, dense

    def _user_embedding(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        features, _ = self._query_features(inputs)
        return {"embedding": self.query_tower(features, training=False)}

    def _movie_embedding(self, movie_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"embedding": tf.gather(self.embeddings, self._dense(movie_ids))}

    def _top_k(self, queries: tf.Tensor, exclude: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """scores [B, K], dense indices [B, K] of the best movies outside `exclude` [B, E]."""

        def exact() -> tuple[tf.Tensor, tf.Tensor]:
            return exact_top_k(queries, self.embeddings, exclude, self.k)

        if self.scann is None:
            return exact()
        wanted = self.k + tf.reduce_max(tf.reduce_sum(tf.cast(exclude > 0, tf.int32), axis=1))

        def approximate() -> tuple[tf.Tensor, tf.Tensor]:
            scores, indices = self.scann(queries, k=wanted)
            return drop_excluded(scores, indices, exclude, self.k)

        # ScaNN returns at most `reorder` neighbours: longer exclusion lists take the exact path, and so does
        # an empty batch (ScaNN answers it with no columns at all; the exact path gives [0, K]).
        nonempty = tf.shape(queries)[0] > 0
        return tf.cond(tf.logical_and(nonempty, wanted <= self.reorder), approximate, exact)

    def _results(self, scores: tf.Tensor, indices: tf.Tensor) -> dict[str, tf.Tensor]:
        shape = [None, self.k]  # static K in the signature, also after ScaNN's dynamic-size search
        return {
            "movie_ids": tf.ensure_shape(tf.gather(self.raw_ids, indices), shape),
            "scores": tf.ensure_shape(scores, shape),
        }

    def _recommend(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        features, dense = self._query_features(inputs)
        queries = self.query_tower(features, training=False)
        return self._results(*self._top_k(queries, dense))

    def _similar_movies(self, movie_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        dense = self._dense(movie_ids)
        movies = tf.gather(self.embeddings, dense) * self.movie_columns  # the movie vector: cosines, no age score
        scores, indices = self._top_k(movies, dense[:, None])
        known = dense[:, None] > 0
        return self._results(tf.where(known, scores, 0.0), tf.where(known, indices, 0))
