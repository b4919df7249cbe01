"""The nearest-neighbour indexes of an export: ScaNN (TFRS layer, approximate) and exact brute force.

ScaNN is optional at import time: everything that only reads an export (the brute-force SavedModel,
the metadata, the embeddings) works without it, and `require_scann` says how to install it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

try:  # ScaNN registers its TensorFlow ops on import; the TFRS layer needs them.
    import scann  # noqa: F401

    _SCANN_ERROR: ImportError | None = None
except ImportError as error:  # pragma: no cover - scann is a pinned dependency
    _SCANN_ERROR = error

SCANN_INSTALL_HINT = (
    "ScaNN is not installed: `.venv/bin/pip install scann==1.4.2` (its TensorFlow ops are built for "
    "tensorflow 2.20; the brute-force SavedModel in <export_dir>/saved_model/brute_force needs no ScaNN)"
)
MIN_MOVIES_PER_LEAF = 100
# Below this many movies a query scans them all: cheap, and it keeps a small catalog's few leaves from
# being searched by a share tuned for 86.5k movies (user embeddings lie outside the movies' k-means cells).
MIN_SCANNED_MOVIES = 8_000


def require_scann() -> None:
    """Raises ImportError with installation advice when the scann package is missing."""
    if _SCANN_ERROR is not None:
        raise ImportError(SCANN_INSTALL_HINT) from _SCANN_ERROR


@dataclasses.dataclass(frozen=True)
class ScannParams:
    """ScaNN index parameters (tree partitioning + asymmetric hashing + exact reordering).

    Attributes:
      scann_num_leaves: tree leaves (partitions); about sqrt(n) suits 86.5k movies.
      scann_leaves_to_search: leaves scanned per query (recall vs speed; 80 of 300: BUILD_NOTES, "Export").
      scann_dimensions_per_block: asymmetric-hashing block size (2 = most accurate).
      scann_reorder: candidates rescored exactly; also the most neighbours one search can return.
      scann_training_iterations: k-means iterations of the tree.
    """

    scann_num_leaves: int = 300
    scann_leaves_to_search: int = 80
    scann_dimensions_per_block: int = 2
    scann_reorder: int = 500
    scann_training_iterations: int = 12

    def validate(self, k: int) -> None:
        if min(self.scann_num_leaves, self.scann_leaves_to_search, self.scann_dimensions_per_block) < 1:
            raise ValueError("ScaNN leaves, leaves to search and dimensions per block must be positive")
        if self.scann_leaves_to_search > self.scann_num_leaves:
            raise ValueError("--scann_leaves_to_search must not exceed --scann_num_leaves")
        if self.scann_reorder < k + 1:
            raise ValueError(f"--scann_reorder ({self.scann_reorder}) must be at least k + 1 ({k + 1})")

    def for_catalog(self, num_movies: int) -> ScannParams:
        """The parameters adapted to a catalog of `num_movies`: at least MIN_MOVIES_PER_LEAF movies a leaf, the
        same share of leaves searched, and at least MIN_SCANNED_MOVIES movies scanned per query (so a small
        catalog is searched more thoroughly, all of it below 8,000 movies; 86.5k movies use the flags)."""
        leaves = max(1, min(self.scann_num_leaves, num_movies // MIN_MOVIES_PER_LEAF))
        share = math.ceil(leaves * self.scann_leaves_to_search / self.scann_num_leaves)
        floor = math.ceil(leaves * min(1.0, MIN_SCANNED_MOVIES / max(num_movies, 1)))
        return dataclasses.replace(
            self, scann_num_leaves=leaves, scann_leaves_to_search=min(leaves, max(share, floor, 1))
        )


def scann_layer(embeddings: np.ndarray, identifiers: np.ndarray, params: ScannParams, k: int):
    """A built tfrs.layers.factorized_top_k.ScaNN over `embeddings`.

    Args:
      embeddings: [m, d] float32 candidate embeddings (padding row excluded).
      identifiers: [m] int32 identifier returned for each row (the dense movie index).
      params: index parameters, already adapted to the catalog (`ScannParams.for_catalog`).
      k: default number of neighbours.

    Returns:
      The layer; `layer(queries [B, d], k=...)` -> (scores [B, k], identifiers [B, k]).
    """
    require_scann()
    import tensorflow_recommenders as tfrs

    layer = tfrs.layers.factorized_top_k.ScaNN(
        k=k,
        num_leaves=params.scann_num_leaves,
        num_leaves_to_search=params.scann_leaves_to_search,
        dimensions_per_block=params.scann_dimensions_per_block,
        num_reordering_candidates=params.scann_reorder,
        training_iterations=params.scann_training_iterations,
        name="scann",
    )
    return layer.index(tf.constant(embeddings, tf.float32), identifiers=tf.constant(identifiers, tf.int32))


def exact_top_k(queries: tf.Tensor, embeddings: tf.Tensor, exclude: tf.Tensor, k: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Exact top-k by inner product with per-row exclusions; ties go to the lower index.

    Args:
      queries: [B, d] float32.
      embeddings: [n + 1, d] float32; row 0 (padding) is never returned.
      exclude: [B, E] int32 dense indices to leave out of each row's result (0 entries are no-ops).
      k: results per row (at most n - E).

    Returns:
      scores [B, k] float32 and dense indices [B, k] int32.
    """
    scores = tf.matmul(queries, embeddings, transpose_b=True)
    batch, width = tf.shape(exclude)[0], tf.shape(exclude)[1]
    rows = tf.repeat(tf.range(batch), width)
    positions = tf.stack([rows, tf.reshape(exclude, [-1])], axis=1)
    positions = tf.concat([positions, tf.stack([tf.range(batch), tf.zeros([batch], tf.int32)], axis=1)], axis=0)
    scores = tf.tensor_scatter_nd_update(scores, positions, tf.fill([tf.shape(positions)[0]], -np.inf))
    values, indices = tf.math.top_k(scores, k=k)
    return values, indices


def drop_excluded(scores: tf.Tensor, indices: tf.Tensor, exclude: tf.Tensor, k: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The best k of an approximate result [B, k'] (k' >= k + E) once the excluded indices are removed.

    Args:
      scores, indices: [B, k'] float32 and int32, as returned by the ScaNN layer.
      exclude: [B, E] int32 dense indices (0 entries are no-ops).
      k: results per row.
    """
    hit = tf.reduce_any((indices[:, :, None] == exclude[:, None, :]) & (exclude[:, None, :] > 0), axis=-1)
    masked = tf.where(hit, tf.constant(-np.inf, scores.dtype), scores)
    values, order = tf.math.top_k(masked, k=k)
    return values, tf.gather(indices, order, batch_dims=1)
