"""Movie features aligned to a dense movie index (0 = padding, 1..n = movies.csv sorted by movieId)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.data.load import RawRelease
from pipelines.data.schema import GENRES

UNKNOWN_YEAR = 0
MIN_YEAR, MAX_YEAR = 1870, 2100
# The last "(YYYY)" group, also "(YYYY-)" and "(YYYY-YYYY)" ranges that series use.
_YEAR = re.compile(r"\((\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)")
_TRAILING_ARTICLE = re.compile(r"^(.*), (The|A|An|Les|La|Le|L'|Il|El|Das|Der|Die|Los|Las)$")


@dataclasses.dataclass(frozen=True)
class Catalog:
    """Per-movie features; row i describes dense movie index i (row 0 is padding).

    Attributes:
      movie_ids: [n + 1] MovieLens movieId per index (0 at the padding row).
      titles, clean_titles: raw titles and display titles (year removed, trailing article moved front).
      years: [n + 1] int16 release year, UNKNOWN_YEAR (0) when the title has none.
      genres: [n + 1, 20] uint8 multi-hot over GENRES.
      genome_rows: [n + 1] int32 row of the movie in `genome`, -1 without a genome.
      genome: [G, T] float32 relevances (T = len(genome_tags)); [0, 0] for releases without a genome.
      genome_tags: tag text per genome column (keyed by text: tagIds change between releases).
      imdb_ids: zero-padded imdb ids ('' unknown); tmdb_ids: [n + 1] int64, -1 unknown.
    """

    movie_ids: np.ndarray
    titles: list[str]
    clean_titles: list[str]
    years: np.ndarray
    genres: np.ndarray
    genome_rows: np.ndarray
    genome: np.ndarray
    genome_tags: list[str]
    imdb_ids: list[str]
    tmdb_ids: np.ndarray

    @property
    def num_movies(self) -> int:
        """Number of real movies (the index runs 1..num_movies)."""
        return len(self.movie_ids) - 1

    @property
    def has_genome(self) -> np.ndarray:
        return self.genome_rows >= 0

    def index_of(self, movie_ids: np.ndarray) -> np.ndarray:
        """Dense index of MovieLens ids; 0 for ids not in the catalog."""
        movie_ids = np.asarray(movie_ids, np.int64)
        known = self.movie_ids[1:]
        position = np.minimum(np.searchsorted(known, movie_ids), max(len(known) - 1, 0))
        found = known[position] == movie_ids if len(known) else np.zeros(movie_ids.shape, bool)
        return np.where(found, position + 1, 0).astype(np.int32)

    def dense_genome(self) -> np.ndarray:
        """[n + 1, T] genome aligned to the movie index, zeros where a movie has none."""
        dense = np.zeros((len(self.movie_ids), self.genome.shape[1]), np.float32)
        has = self.has_genome
        dense[has] = self.genome[self.genome_rows[has]]
        return dense


def parse_title(title: str) -> tuple[str, int]:
    """Display title and year from a MovieLens title: 'American President, The (1995)' ->
    ('The American President', 1995); no year -> UNKNOWN_YEAR."""
    text = title.strip()
    matches = list(_YEAR.finditer(text))
    year = UNKNOWN_YEAR
    if matches:
        last = matches[-1]
        candidate = int(last.group(1))
        if MIN_YEAR <= candidate <= MAX_YEAR:
            year = candidate
            if text[last.end() :].strip() == "":
                text = text[: last.start()].strip()
    article = _TRAILING_ARTICLE.match(text)
    if article:
        body, word = article.groups()
        separator = "" if word.endswith("'") else " "
        text = f"{word}{separator}{body}"
    return text, year


def genre_multi_hot(genres: list[str]) -> np.ndarray:
    """[len(genres), 20] uint8 from '|'-separated genre strings (validated by the loader)."""
    column = {g: i for i, g in enumerate(GENRES)}
    out = np.zeros((len(genres), len(GENRES)), np.uint8)
    for row, value in enumerate(genres):
        out[row, [column[g] for g in value.split("|")]] = 1
    return out


def build_catalog(raw: RawRelease) -> Catalog:
    n = len(raw.movie_ids)
    movie_ids = np.concatenate([[0], raw.movie_ids]).astype(np.int64)
    parsed = [parse_title(t) for t in raw.titles]
    years = np.array([UNKNOWN_YEAR] + [y for _, y in parsed], np.int16)
    genres = np.concatenate([np.zeros((1, len(GENRES)), np.uint8), genre_multi_hot(raw.genres)])

    catalog = Catalog(
        movie_ids=movie_ids,
        titles=["", *raw.titles],
        clean_titles=["", *(t for t, _ in parsed)],
        years=years,
        genres=genres,
        genome_rows=np.full(n + 1, -1, np.int32),
        genome=np.zeros((0, 0), np.float32),
        genome_tags=[],
        imdb_ids=[""] * (n + 1),
        tmdb_ids=np.full(n + 1, -1, np.int64),
    )
    link_index = catalog.index_of(raw.link_movie_ids)
    catalog.tmdb_ids[link_index] = raw.tmdb_ids
    for index, imdb in zip(link_index.tolist(), raw.imdb_ids, strict=True):
        catalog.imdb_ids[index] = imdb
    catalog.tmdb_ids[0], catalog.imdb_ids[0] = -1, ""
    if raw.genome is not None:
        catalog.genome_rows[catalog.index_of(raw.genome_movie_ids)] = np.arange(len(raw.genome_movie_ids))
        catalog = dataclasses.replace(catalog, genome=raw.genome, genome_tags=list(raw.genome_tags))
    return catalog


@dataclasses.dataclass(frozen=True)
class MovieTags:
    """User tags aggregated per movie (CSR over the movie index), counted before a cut-off time.

    Attributes:
      vocabulary: normalised tag text (lower case, single spaces), most used first.
      offsets: [n + 2] int64; the tags of movie i are ids[offsets[i]:offsets[i + 1]].
      ids, counts: tag id into `vocabulary` and how many times the movie got it, most used first.
    """

    vocabulary: list[str]
    offsets: np.ndarray
    ids: np.ndarray
    counts: np.ndarray


def aggregate_tags(raw: RawRelease, catalog: Catalog, before: int) -> MovieTags:
    """Counts each movie's tags with timestamp < `before` (no tag from the evaluation windows leaks in)."""
    keep = raw.tag_timestamps < before
    text = pc.utf8_lower(pc.utf8_trim_whitespace(raw.tags.filter(pa.array(keep))))
    text = pc.replace_substring_regex(text, r"\s+", " ")
    movies = catalog.index_of(raw.tag_movie_ids[keep]).astype(np.int64)
    nonempty = pc.not_equal(text, "").to_numpy(zero_copy_only=False)
    encoded = text.filter(pa.array(nonempty)).dictionary_encode().combine_chunks()
    movies = movies[nonempty]
    tag = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    words = encoded.dictionary.to_pylist()
    # Vocabulary ordered by total use, ties by text, so ids are stable across runs.
    totals = np.bincount(tag, minlength=len(words))
    rank_order = np.lexsort((np.array(words, dtype=object).astype(str), -totals)) if words else np.array([], int)
    rank = np.empty(len(words), np.int64)
    rank[rank_order] = np.arange(len(words))
    tag = rank[tag]
    pairs, counts = np.unique(movies * max(len(words), 1) + tag, return_counts=True)
    pair_movie, pair_tag = pairs // max(len(words), 1), pairs % max(len(words), 1)
    order = np.lexsort((pair_tag, -counts, pair_movie))
    pair_movie, pair_tag, counts = pair_movie[order], pair_tag[order], counts[order]
    offsets = np.zeros(catalog.num_movies + 2, np.int64)
    np.cumsum(np.bincount(pair_movie, minlength=catalog.num_movies + 1), out=offsets[1:])
    return MovieTags(
        vocabulary=[words[i] for i in rank_order],
        offsets=offsets,
        ids=pair_tag.astype(np.int32),
        counts=counts.astype(np.int32),
    )
