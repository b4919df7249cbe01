"""EASE (Steck, WWW 2019): closed-form ridge item-item weights, the query history folded in at scoring time."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from pipelines.data.split import Interactions
from pipelines.evaluation.baselines.common import BELOW_EVERY_SCORE, binary_matrix, cold_rows
from pipelines.evaluation.evaluator import Queries

_EXACT_FLOAT32 = 2**24  # integers up to this are exact in float32 (the Gram matrix holds co-rating counts)


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


def ease_items(train: Interactions, num_movies: int, max_items: int, memory_gb: float) -> tuple[np.ndarray, np.ndarray]:
    """(the modelled items: the min(max_items, rated movies) most-rated movies, [n + 1] training counts).

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
    return items, counts


def ease_gram(train: Interactions, num_movies: int, items: np.ndarray) -> np.ndarray:
    """[m, m] float32 X^T X of the binary training matrix over `items` (co-rating counts, exact in float32)."""
    if len(train) >= _EXACT_FLOAT32:
        raise ValueError(f"{len(train):,} training users: co-rating counts would not be exact in float32")
    return gram(binary_matrix(train, num_movies + 1).tocsc()[:, items]).astype(np.float32)


def ease_weights(gram_matrix: np.ndarray, lam: float, block: int = 2048) -> np.ndarray:
    """[m, m] float32 EASE weights B = I - P diag(1 / diag(P)), P = (G + lam I)^-1, by a Cholesky inversion.

    Peak memory besides the Gram matrix: one float64 and one float32 [m, m] matrix.

    Raises:
      ValueError: G + lam I is not positive definite (lam <= 0 on a singular Gram matrix).
    """
    a = np.array(gram_matrix, np.float64, order="F")  # F order: LAPACK works on it in place
    a[np.diag_indices_from(a)] += lam
    factor, info = lapack.dpotrf(a, lower=1, clean=0, overwrite_a=1)
    if info != 0:
        raise ValueError(f"G + {lam:g} I is not positive definite (potrf info {info})")
    p, info = lapack.dpotri(factor, lower=1, overwrite_c=1)
    del a, factor
    if info != 0:
        raise ValueError(f"G + {lam:g} I could not be inverted (potri info {info})")
    _symmetrise_lower(p, block)
    rows = p.T  # P is symmetric: its C-ordered view holds the same rows, contiguous
    scale = -1.0 / np.diag(p)
    weights = np.empty(p.shape, np.float32)
    for start in range(0, len(p), block):
        weights[start : start + block] = rows[start : start + block] * scale[None, :]
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


def _symmetrise_lower(matrix: np.ndarray, block: int) -> None:
    """Copies the lower triangle of a square matrix onto its upper one, in place, a block of columns at a time."""
    for start in range(0, len(matrix), block):
        stop = min(start + block, len(matrix))
        diagonal = matrix[start:stop, start:stop]
        diagonal[...] = np.tril(diagonal) + np.tril(diagonal, -1).T
        matrix[start:stop, stop:] = matrix[stop:, start:stop].T


def ease(train: Interactions, num_movies: int, lam: float, max_items: int, memory_gb: float) -> EASE:
    """Fits EASE on the min(max_items, rated movies) most-rated movies.

    Raises:
      ValueError: the dense matrices would need more than memory_gb (rather than swap).
    """
    items, counts = ease_items(train, num_movies, max_items, memory_gb)
    return EASE(items, ease_weights(ease_gram(train, num_movies, items), lam), counts)
