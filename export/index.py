"""The nearest-neighbour indexes of an export: ScaNN (TFRS layer, approximate) and exact brute force.

ScaNN is optional at import time: everything that only reads an export (the brute-force SavedModel,
the metadata, the embeddings) works without it, and `require_scann` says how to install it.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from export.config import ScannParams

try:  # ScaNN registers its TensorFlow ops on import; the TFRS layer needs them.
    import scann  # noqa: F401

    _SCANN_ERROR: ImportError | None = None
except ImportError as error:  # pragma: no cover - scann is a pinned dependency
    _SCANN_ERROR = error

SCANN_INSTALL_HINT = (
    "ScaNN is not installed: `.venv/bin/pip install scann==1.4.2` (its TensorFlow ops are built for "
    "tensorflow 2.20; the brute-force SavedModel in <export_dir>/saved_model/brute_force needs no ScaNN)"
)


def require_scann() -> None:
    """Raises ImportError with installation advice when the scann package is missing."""
    if _SCANN_ERROR is not None:
        raise ImportError(SCANN_INSTALL_HINT) from _SCANN_ERROR


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
