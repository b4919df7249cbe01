"""Per-movie content arrays for the candidate tower (NumPy only): genres, year bucket, title tokens.

Everything here is derived from movies.csv and the genome, which describe the catalog, not user
behaviour after the training cut; user tags are counted before T_val by `features.aggregate_tags`.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from pipelines.data.features import UNKNOWN_YEAR, Catalog
from pipelines.data.schema import GENRES, NO_GENRES

TITLE_TOKENS = 8  # words kept per title
YEAR_FIRST, YEAR_BUCKET = 1900, 5  # year buckets of 5 years from 1900; bucket 0 is "unknown"
_WORD = re.compile(r"[\w']+")


@dataclasses.dataclass(frozen=True)
class Content:
    """Content features per dense movie index (row 0 is padding).

    Attributes:
      genres: [n + 1, 19] float32 multi-hot of the genres (`genre_features`: "(no genres listed)" is all zero).
      year_buckets: [n + 1] int32, 0 unknown, else 1 + (year - 1900) // 5 (clipped at 1).
      title_tokens: [n + 1, TITLE_TOKENS] int32 ids into `title_vocabulary` (+1; 0 = padding).
      title_vocabulary: words that appear in at least two titles.
      genome: [n + 1, T] float32 relevances (zeros without a genome).  has_genome: [n + 1] float32.
    """

    genres: np.ndarray
    year_buckets: np.ndarray
    title_tokens: np.ndarray
    title_vocabulary: list[str]
    genome: np.ndarray
    has_genome: np.ndarray

    @property
    def num_year_buckets(self) -> int:
        return int(self.year_buckets.max()) + 1


def genre_features(genres: np.ndarray) -> np.ndarray:
    """[n, 19] float32 multi-hot of the real genres from the catalog's [n, 20] (pipelines.data.schema.GENRES).

    "(no genres listed)" is a missing value, not a genre: such a movie gets no genre at all. Kept as a
    column, it would make every movie without genres the others' nearest neighbour by genre.
    """
    keep = np.asarray([name != NO_GENRES for name in GENRES])
    return np.asarray(genres, np.float32)[:, keep]


def year_buckets(years: np.ndarray) -> np.ndarray:
    buckets = 1 + np.maximum(years.astype(np.int32) - YEAR_FIRST, 0) // YEAR_BUCKET
    return np.where(years == UNKNOWN_YEAR, 0, buckets).astype(np.int32)


def title_tokens(titles: list[str], min_count: int = 2) -> tuple[np.ndarray, list[str]]:
    """[len(titles), TITLE_TOKENS] word ids (1-based, 0 pads) and the vocabulary, by frequency."""
    words = [_WORD.findall(t.lower())[:TITLE_TOKENS] for t in titles]
    counts: dict[str, int] = {}
    for title in words:
        for w in set(title):
            counts[w] = counts.get(w, 0) + 1
    vocabulary = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    index = {w: i + 1 for i, w in enumerate(vocabulary)}
    tokens = np.zeros((len(titles), TITLE_TOKENS), np.int32)
    for row, title in enumerate(words):
        ids = [index[w] for w in title if w in index]
        tokens[row, : len(ids)] = ids
    return tokens, vocabulary


def build_content(catalog: Catalog) -> Content:
    tokens, vocabulary = title_tokens(catalog.clean_titles)
    tokens[0] = 0
    return Content(
        genres=genre_features(catalog.genres),
        year_buckets=year_buckets(np.asarray(catalog.years)),
        title_tokens=tokens,
        title_vocabulary=vocabulary,
        genome=catalog.dense_genome() if catalog.genome.size else np.zeros((len(catalog.movie_ids), 0), np.float32),
        has_genome=np.asarray(catalog.has_genome, np.float32),
    )
