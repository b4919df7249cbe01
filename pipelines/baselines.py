"""The protocol's baselines, each a `Recommender` fitted only on the training ratings (before T_val).

popularity, recent popularity, item-kNN (here); EASE and iALS in `pipelines.baselines_linear`. Cold users
(empty query history) get the popularity ranking from every history-based baseline, which would
otherwise score every movie alike.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from pipelines.errors import DataError
from pipelines.evaluation import Queries, Recommender
from pipelines.split import Interactions

DAY_S = 86_400
NAMES = ("popularity", "recent_popularity", "item_knn", "ease", "ials")


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    """Hyper-parameters of the baselines (flag names; see pipelines/cli.py define_eval_flags).

    Attributes:
      recent_days: recent popularity counts the ratings of the last recent_days days before T_val.
      knn_neighbors: item-kNN keeps each item's knn_neighbors most similar items.
      ease_lambda: EASE's L2 regularisation.  ease_max_items: EASE models the most-rated items up to this.
      ease_memory_gb: refuse EASE when its dense item-item matrices would need more than this.
      ials_factors, ials_iterations, ials_regularization, ials_alpha: implicit's AlternatingLeastSquares
        (alpha is the confidence of a rated movie).
    """

    recent_days: int = 90
    knn_neighbors: int = 500
    ease_lambda: float = 2000.0
    ease_max_items: int = 10_000
    ease_memory_gb: float = 4.0
    ials_factors: int = 64
    ials_iterations: int = 15
    ials_regularization: float = 50.0
    ials_alpha: float = 5.0


def binary_matrix(rows: Interactions, width: int) -> sp.csr_matrix:
    """[R, width] float32 CSR with a 1 at (row, movie) for every rating of every row."""
    offsets = np.asarray(rows.offsets, np.int64)
    movies = np.array(rows.movies[offsets[0] : offsets[-1]], np.int32)  # a private copy: scipy sorts in place
    data = np.ones(len(movies), np.float32)
    matrix = sp.csr_matrix((data, movies, offsets - offsets[0]), shape=(len(rows), width))
    matrix.sum_duplicates()
    return matrix


class Popularity:
    """Scores every movie by a fixed count vector (the same ranking for every query)."""

    def __init__(self, name: str, counts: np.ndarray) -> None:
        self.name = name
        self.counts = np.asarray(counts, np.float32)

    def scores(self, queries: Queries) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(queries.query_times), len(self.counts)))


def popularity(train: Interactions, num_movies: int) -> Popularity:
    """Training ratings per movie."""
    return Popularity("popularity", np.bincount(train.movies, minlength=num_movies + 1))


def recent_popularity(train: Interactions, num_movies: int, t_val: int, days: int = 90) -> Popularity:
    """Training ratings per movie in the `days` days before t_val; ties (e.g. movies with no recent
    rating) are ordered by all-time training counts, which add less than 1."""
    recent = np.bincount(train.movies[train.timestamps >= t_val - days * DAY_S], minlength=num_movies + 1)
    counts = np.bincount(train.movies, minlength=num_movies + 1).astype(np.float64)
    return Popularity("recent_popularity", recent + counts / (counts.max() + 1.0))


def cold_rows(queries: Queries) -> np.ndarray:
    """[B] bool: the query history is empty."""
    return queries.history.lengths == 0


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
    other columns (ties to the lower index), computed a block of columns at a time in dense float32."""
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


def parse_names(value: str) -> list[str]:
    """'all' | 'none' | a comma list of NAMES -> the baseline names, in NAMES order."""
    value = value.strip()
    if value == "all":
        return list(NAMES)
    if value in ("none", ""):
        return []
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise DataError(f"unknown baseline(s) {', '.join(unknown)}; known: all, none, {', '.join(NAMES)}")
    return [n for n in NAMES if n in names]


def fit(
    name: str, train: Interactions, num_movies: int, t_val: int, config: BaselineConfig, seed: int = 0
) -> Recommender:
    """One baseline by name, fitted on the training ratings only (seed: iALS initialisation)."""
    from pipelines import baselines_linear  # scipy.linalg / implicit only when asked for

    if name == "popularity":
        return popularity(train, num_movies)
    if name == "recent_popularity":
        return recent_popularity(train, num_movies, t_val, config.recent_days)
    if name == "item_knn":
        return item_knn(train, num_movies, config.knn_neighbors)
    if name == "ease":
        return baselines_linear.ease(train, num_movies, config.ease_lambda, config.ease_max_items,
                                     config.ease_memory_gb)  # fmt: skip
    if name == "ials":
        return baselines_linear.ials(train, num_movies, config, seed)
    raise DataError(f"unknown baseline {name!r}; known: {', '.join(NAMES)}")
