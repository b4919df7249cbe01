"""What the baselines share: the binary user-movie matrix and the cold-user rows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pipelines.data.split import Interactions
from pipelines.evaluation.evaluator import Queries

BELOW_EVERY_SCORE = -1e30  # movies a model does not cover: after all it covers, still above excluded (-inf)


def binary_matrix(rows: Interactions, width: int) -> sp.csr_matrix:
    """[R, width] float32 CSR with a 1 at (row, movie) for every rating of every row."""
    offsets = np.asarray(rows.offsets, np.int64)
    movies = np.array(rows.movies[offsets[0] : offsets[-1]], np.int32)  # a private copy: scipy sorts in place
    data = np.ones(len(movies), np.float32)
    matrix = sp.csr_matrix((data, movies, offsets - offsets[0]), shape=(len(rows), width))
    matrix.sum_duplicates()
    return matrix


def cold_rows(queries: Queries) -> np.ndarray:
    """[B] bool: the query history is empty."""
    return queries.history.lengths == 0
