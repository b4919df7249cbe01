"""A content baseline for new movies: the newest releases in the genres of the user's history.

Movies nobody rated before T_val have no collaborative signal; what a content-only method can know is
how new a movie is and whether its genres are the user's. score(m) = genre affinity(user, m) x newness(m),
newness halving every `half_life` years of age at T_val (release year; unknown year: 0), with the training
popularity as a tie-break far below every such score. Cold users (no history) take affinity 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pipelines.data.content import genre_features
from pipelines.data.features import Catalog
from pipelines.evaluation.baselines.common import binary_matrix, cold_rows
from pipelines.evaluation.evaluator import Queries

SECONDS_PER_YEAR = 31_556_952.0


@dataclasses.dataclass(frozen=True)
class MovieContent:
    """What the content baselines read of the catalog: genres [n + 1, G] float32 multi-hot and release
    years [n + 1] (0 = unknown)."""

    genres: np.ndarray
    years: np.ndarray

    @classmethod
    def of(cls, catalog: Catalog) -> MovieContent:
        """The catalog's content as the candidate tower sees it: "(no genres listed)" is no genre."""
        return cls(genre_features(catalog.genres), np.asarray(catalog.years))


class NewInGenres:
    name = "new_in_genres"

    def __init__(self, content: MovieContent, counts: np.ndarray, t_val: int, half_life: float) -> None:
        genres = np.asarray(content.genres, np.float32)
        norms = np.linalg.norm(genres, axis=1, keepdims=True)
        self.genres = genres
        self.unit_genres = np.divide(genres, norms, out=np.zeros_like(genres), where=norms > 0)
        years = np.asarray(content.years, np.float64)
        age = np.maximum(1970.0 + t_val / SECONDS_PER_YEAR - (years + 0.5), 0.0)
        self.newness = np.where(years > 0, 0.5 ** (age / half_life), 0.0).astype(np.float32)
        counts = np.asarray(counts, np.float64)
        self.tie_break = (1e-6 * counts / (counts.max() + 1.0)).astype(np.float32)

    def scores(self, queries: Queries) -> np.ndarray:
        history = binary_matrix(queries.history, len(self.genres))
        profile = np.asarray(history @ self.genres, np.float32)  # [B, G] genre counts of the history
        norms = np.linalg.norm(profile, axis=1, keepdims=True)
        profile = np.divide(profile, norms, out=np.zeros_like(profile), where=norms > 0)
        affinity = profile @ self.unit_genres.T  # [B, n + 1] cosine of genre vectors
        affinity[cold_rows(queries)] = 1.0
        return affinity * self.newness[None, :] + self.tie_break[None, :]


def new_in_genres(content: MovieContent, counts: np.ndarray, t_val: int, half_life: float) -> NewInGenres:
    if half_life <= 0:
        raise ValueError(f"--new_half_life_years must be positive, got {half_life:g}")
    return NewInGenres(content, counts, t_val, half_life)
