"""Content baselines for new movies: what a method can know of a movie nobody rated before T_val.

new_in_genres: the newest releases in the genres of the user's history. score(m) = genre affinity(user, m)
x newness(m), newness halving every `half_life` years of age at T_val (release year; unknown year: 0), with
the training popularity as a tie-break far below every such score. Cold users (no history) take affinity 1.

title_knn: a content kNN over title words, then new_in_genres. A movie's similarity to a history movie is
the words their titles share, each weighted by idf(w)^2 (idf = log((n + 1) / (1 + movies whose title has
w)), so "the" counts for little and "Galaxy" for much: sequels and franchises); score(m) = title_weight x
log(1 + the sum of those similarities over the history) + new_in_genres' score.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from pipelines.data.content import genre_features, title_tokens
from pipelines.data.features import Catalog
from pipelines.evaluation.baselines.common import binary_matrix, cold_rows
from pipelines.evaluation.evaluator import Queries

SECONDS_PER_YEAR = 31_556_952.0


@dataclasses.dataclass(frozen=True)
class MovieContent:
    """What the content baselines read of the catalog: genres [n + 1, G] float32 multi-hot, release years
    [n + 1] (0 = unknown) and title words [n + 1, T] int32 (`pipelines.data.content.title_tokens`: ids from
    1, 0 pads)."""

    genres: np.ndarray
    years: np.ndarray
    title_words: np.ndarray

    @classmethod
    def of(cls, catalog: Catalog) -> MovieContent:
        """The catalog's content as the candidate tower sees it: "(no genres listed)" is no genre."""
        words, _ = title_tokens(catalog.clean_titles)
        return cls(genre_features(catalog.genres), np.asarray(catalog.years), words)


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


def title_word_matrix(title_words: np.ndarray) -> sp.csr_matrix:
    """[n + 1, V + 1] float32: idf(w) at (movie, w) for every word w of the movie's title (column 0 unused)."""
    rows = np.repeat(np.arange(len(title_words)), title_words.shape[1])
    words = np.asarray(title_words, np.int64).ravel()
    kept = words > 0
    shape = (len(title_words), int(words.max(initial=0)) + 1)
    has_word = sp.csr_matrix((np.ones(int(kept.sum()), np.float32), (rows[kept], words[kept])), shape=shape)
    has_word.data[:] = 1.0  # a word twice in one title counts once
    movies_with = np.asarray(has_word.sum(axis=0)).ravel()
    idf = np.log(len(title_words) / (1.0 + movies_with)).astype(np.float32)
    return (has_word @ sp.diags(idf)).tocsr()


class TitleKnn:
    name = "title_knn"

    def __init__(self, in_genres: NewInGenres, title_words: np.ndarray, title_weight: float) -> None:
        self.in_genres = in_genres
        self.words = title_word_matrix(title_words)
        self.title_weight = title_weight

    def scores(self, queries: Queries) -> np.ndarray:
        history = binary_matrix(queries.history, self.words.shape[0])
        profile = (history @ self.words).toarray()  # [B, V] the history's idf-weighted word counts
        # sparse [n + 1, V] x dense [V, B]: common words ("the") would make a sparse [B, n + 1] product dense
        shared = np.asarray((self.words @ profile.T).T, np.float32)  # [B, n + 1]
        return self.title_weight * np.log1p(shared) + self.in_genres.scores(queries)


def title_knn(content: MovieContent, counts: np.ndarray, t_val: int, half_life: float, title_weight: float) -> TitleKnn:
    if title_weight < 0:
        raise ValueError(f"--title_weight must be 0 or more, got {title_weight:g}")
    return TitleKnn(new_in_genres(content, counts, t_val, half_life), content.title_words, title_weight)
