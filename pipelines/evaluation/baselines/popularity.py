"""Popularity and recent popularity: the same ranking for every query."""

from __future__ import annotations

import numpy as np

from pipelines.data.split import Interactions
from pipelines.evaluation.evaluator import Queries

DAY_S = 86_400


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
