"""A linear member beside the towers: EASE's item-item weights, factorised, as further embedding columns.

EASE (Steck, WWW 2019) scores movie j for a history H as sum_{i in H} B_ij. With B ~= L R^T (rank r) that
is (sum_{i in H} L_i) . R_j: a query vector, the sum of the history's rows of L, and a movie vector, R_j.
Appended to the towers' embeddings, the sum of the two scores is still one dot product, so the export,
ScaNN and serving take it unchanged. The factors are fixed (pipelines.training.linear_member fits them
after the towers train).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras as keras

from towers.layers import ConstantLookup


@keras.utils.register_keras_serializable("towers")
class FactorLookup(keras.layers.Layer):
    """Dense movie index [...] -> its factor row [..., rank]; zeros for the movies without one (padding, and
    the movies outside the modelled ones).

    Args:
      rows: int32 [n + 1] the factor row of each movie, 0 for none.
      vectors: float32 [m + 1, rank] the factor rows, row 0 zeros.
    """

    def __init__(
        self,
        rows: np.ndarray | None = None,
        vectors: np.ndarray | None = None,
        num_movies: int = 0,
        items: int = 0,
        rank: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if rows is not None and vectors is not None:
            num_movies, (items, rank) = len(rows) - 1, (vectors.shape[0] - 1, vectors.shape[1])
        self.num_movies, self.items, self.rank = int(num_movies), int(items), int(rank)
        self.rows = ConstantLookup(
            None if rows is None else np.asarray(rows, np.int32), shape=(self.num_movies + 1,), dtype_name="int32",
            name="rows",
        )  # fmt: skip
        self.vectors = ConstantLookup(
            None if vectors is None else np.asarray(vectors, np.float32), shape=(self.items + 1, self.rank),
            name="vectors",
        )  # fmt: skip

    def call(self, movies: tf.Tensor) -> tf.Tensor:
        return self.vectors(self.rows(tf.cast(movies, tf.int32)))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_movies": self.num_movies, "items": self.items, "rank": self.rank}


class LinearQuery(keras.Model):
    """The query tower's embedding followed by the sum of the history movies' left factors [B, rank]."""

    def __init__(self, tower: keras.Model, left: FactorLookup, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tower, self.left = tower, left

    def call(self, features: dict[str, tf.Tensor], **kwargs) -> tf.Tensor:
        history = tf.reduce_sum(self.left(features["history_movies"]), axis=-2)  # padding (0) adds zeros
        return tf.concat([self.tower(features, **kwargs), history], axis=-1)


class LinearCandidate(keras.Model):
    """The candidate tower's embedding followed by the movie's right factor [B, rank]."""

    def __init__(self, tower: keras.Model, right: FactorLookup, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tower, self.right = tower, right

    def call(self, movies: tf.Tensor, **kwargs) -> tf.Tensor:
        return tf.concat([self.tower(movies, **kwargs), self.right(movies)], axis=-1)


@dataclasses.dataclass(frozen=True)
class LinearFactors:
    """rows: int32 [n + 1] each movie's factor row (0: none); left, right: float32 [m + 1, rank], row 0
    zeros; a history's linear score for movie j is sum_{i in history} left[rows[i]] . right[rows[j]]."""

    rows: np.ndarray
    left: np.ndarray
    right: np.ndarray

    def scaled(self, scale: float) -> LinearFactors:
        return dataclasses.replace(self, left=(self.left * np.float32(scale)).astype(np.float32))

    def towers(self, query: keras.Model, candidate: keras.Model) -> tuple[LinearQuery, LinearCandidate]:
        """The two towers with the member's columns appended."""
        left = FactorLookup(self.rows, self.left, name="linear_left")
        right = FactorLookup(self.rows, self.right, name="linear_right")
        return LinearQuery(query, left, name="query_tower"), LinearCandidate(candidate, right, name="candidate_tower")
