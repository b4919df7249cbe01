"""Item-based kNN over cosine similarities of the binary training matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pipelines.data.split import Interactions
from pipelines.evaluation.baselines.common import binary_matrix, cold_rows
from pipelines.evaluation.evaluator import Queries


class ItemKNN:
    """Item-based kNN: score(j) = sum over history movies i of cosine(i, j), j among i's top neighbours.

    Movies no history movie points to keep their popularity order below every positive score.
    """

    name = "item_knn"

    def __init__(self, similarity: sp.csr_matrix, counts: np.ndarray) -> None:
        self.similarity = similarity
        self.counts = np.asarray(counts, np.float32)
        self.fallback = (self.counts / (self.counts.max() + 1.0) - 1.0).astype(np.float32)

    def scores(self, queries: Queries) -> np.ndarray:
        history = binary_matrix(queries.history, self.similarity.shape[0])
        summed = np.asarray((history @ self.similarity).todense(), np.float32)
        out = np.where(summed > 0, summed, self.fallback[None, :])
        out[cold_rows(queries)] = self.counts
        return out


def cosine_neighbours(matrix: sp.csr_matrix, neighbours: int, block: int = 512) -> sp.csr_matrix:
    """[n, n] CSR: for each column i of the binary [U, n] matrix, its `neighbours` most cosine-similar
    other columns (among equal similarities at the cut, argpartition picks), computed a block of columns at a
    time in dense float32."""
    columns = matrix.tocsc()
    transposed = columns.T.tocsr()
    norms = np.sqrt(np.asarray(columns.sum(axis=0)).ravel()).astype(np.float32)
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    width = matrix.shape[1]
    keep = min(neighbours, width - 1)
    rows, cols, vals = [], [], []
    for start in range(0, width, block):
        stop = min(start + block, width)
        co = np.asarray((transposed[start:stop] @ columns).todense(), np.float32)
        co *= inverse[start:stop, None] * inverse[None, :]
        co[np.arange(stop - start), np.arange(start, stop)] = 0.0
        top = np.argpartition(-co, keep - 1, axis=1)[:, :keep] if keep > 0 else np.zeros((stop - start, 0), int)
        sims = np.take_along_axis(co, top, axis=1)
        positive = sims > 0
        rows.append(np.repeat(np.arange(start, stop), keep)[positive.ravel()])
        cols.append(top[positive])
        vals.append(sims[positive])
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(width, width), dtype=np.float32
    )


def item_knn(train: Interactions, num_movies: int, neighbours: int = 500) -> ItemKNN:
    matrix = binary_matrix(train, num_movies + 1)
    return ItemKNN(cosine_neighbours(matrix, neighbours), np.bincount(train.movies, minlength=num_movies + 1))
