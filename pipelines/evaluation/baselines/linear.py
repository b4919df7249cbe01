"""EASE (Steck, WWW 2019): closed-form ridge item-item weights, the query history folded in at scoring time."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pipelines.data.split import Interactions
from pipelines.evaluation.baselines.common import BELOW_EVERY_SCORE, binary_matrix, cold_rows
from pipelines.evaluation.evaluator import Queries


class EASE:
    """EASE: score = history @ B over the most-rated items, B the closed-form ridge item-item weights with a
    zero diagonal. Movies outside the modelled items rank after all modelled ones."""

    name = "ease"

    def __init__(self, items: np.ndarray, weights: np.ndarray, counts: np.ndarray) -> None:
        self.items = items  # [m] dense movie indices of the modelled items
        self.weights = weights  # [m, m] float32
        self.counts = np.asarray(counts, np.float32)
        self.column = np.full(len(counts), -1, np.int64)
        self.column[items] = np.arange(len(items))

    def scores(self, queries: Queries) -> np.ndarray:
        history = binary_matrix(queries.history, len(self.counts)).tocsc()[:, self.items]
        out = np.full((history.shape[0], len(self.counts)), BELOW_EVERY_SCORE, np.float32)
        out[:, self.items] = history @ self.weights
        out[cold_rows(queries)] = self.counts
        return out


def ease_memory_bytes(items: int) -> int:
    """Peak bytes of the dense item-item matrices: the float64 Gram matrix, its inverse and the weights."""
    return 3 * 8 * items * items


def gram(matrix: sp.csr_matrix, block: int = 2048) -> np.ndarray:
    """[m, m] float64 X^T X of a sparse [U, m] matrix, a block of columns at a time."""
    columns = matrix.tocsc()
    transposed = columns.T.tocsr()
    out = np.empty((matrix.shape[1], matrix.shape[1]))
    for start in range(0, matrix.shape[1], block):
        out[:, start : start + block] = (transposed @ columns[:, start : start + block]).toarray()
    return out


def ease(train: Interactions, num_movies: int, lam: float, max_items: int, memory_gb: float) -> EASE:
    """Fits EASE on the min(max_items, rated movies) most-rated movies.

    Raises:
      ValueError: the dense matrices would need more than memory_gb (rather than swap).
    """
    counts = np.bincount(train.movies, minlength=num_movies + 1)
    rated = np.flatnonzero(counts[1:]) + 1
    items = np.sort(rated[np.argsort(-counts[rated], kind="stable")[:max_items]])
    needed = ease_memory_bytes(len(items))
    if needed > memory_gb * 2**30:
        raise ValueError(
            f"EASE on {len(items):,} items needs {needed / 2**30:.1f} GB for its item-item matrices, over "
            f"--ease_memory_gb={memory_gb:g}; lower --ease_max_items or raise --ease_memory_gb"
        )
    x = binary_matrix(train, num_movies + 1).tocsc()[:, items]
    g = gram(x)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    del g
    weights = p / -np.diag(p)[None, :]
    weights[np.diag_indices_from(weights)] = 0.0
    return EASE(items, weights.astype(np.float32), counts)
