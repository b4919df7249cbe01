"""Loads and validates one extracted MovieLens release folder, whatever its layout.

Each layout's adapter reads its files into the same typed tables (pipelines.data.schema): this module's
`read_csv_release` for the CSV releases, load_dat for ml-1m / ml-10m, load_100k for ml-100k. One validation
turns them into a `RawRelease`, so features, split, training, evaluation and export never see the layout.

Policy for bad input (documented in BUILD_NOTES.md, tested in tests/pipelines/data/test_load.py and
test_layouts.py): anything that means the files are not a well-formed MovieLens release fails with a
DataError naming the file, line and value. References to unknown movies or genome tags (ratings, tags,
links or genome rows of a movie absent from the catalog) fail too, unless `drop_orphans` is set, in which
case those rows are dropped and counted in `RawRelease.dropped`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines.data import load_100k, load_dat, releases, schema
from pipelines.data.errors import DataError
from pipelines.data.releases import Layout
from pipelines.data.schema import ReleaseTables, Source
from pipelines.data.text_files import read_table

MAX_ID = 2**31 - 1


@dataclasses.dataclass
class RawRelease:
    """Validated columns of one release; movie ids are still MovieLens ids.

    Attributes:
      movie_ids, titles, genres: the catalog, sorted by movieId.
      user_ids, rating_movie_ids, ratings, timestamps: the ratings in file order.
      tag_movie_ids, tags, tag_timestamps: user tags (empty where the layout has none).
      link_movie_ids, imdb_ids, tmdb_ids: links (tmdb -1 where empty; empty where the layout has none).
      genome_movie_ids [G], genome_tags [T], genome [G, T]: the tag genome, or None without one.
      demographics: ml-1m's users.dat (userId, gender, age, occupation, zip), checked and kept loadable,
        unused by the model; None for the other layouts.
      dropped: counts of orphan rows dropped (only with drop_orphans).
    """

    movie_ids: np.ndarray
    titles: list[str]
    genres: list[str]
    user_ids: np.ndarray
    rating_movie_ids: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    tag_movie_ids: np.ndarray
    tags: pa.ChunkedArray
    tag_timestamps: np.ndarray
    link_movie_ids: np.ndarray
    imdb_ids: list[str]
    tmdb_ids: np.ndarray
    genome_movie_ids: np.ndarray | None
    genome_tags: list[str] | None
    genome: np.ndarray | None
    demographics: pa.Table | None
    dropped: dict[str, int]


def _check_ids(source: Source, name: str, ids: np.ndarray) -> None:
    source.fail_at((ids <= 0) | (ids > MAX_ID), lambda r: f"{name} {ids[r]} is out of range 1..{MAX_ID}")


def _known(source: Source, name: str, ids: np.ndarray, known: np.ndarray, drop: bool, dropped: dict) -> np.ndarray:
    """Mask of rows whose id is in `known` (sorted); fails on the first unknown unless dropping."""
    position = np.minimum(np.searchsorted(known, ids), len(known) - 1)
    ok = known[position] == ids if len(known) else np.zeros(len(ids), bool)
    if not drop:
        source.fail_at(~ok, lambda r: f"{name} {ids[r]} is not in the catalog")
    dropped[f"{source.path.name}:{name}"] = int((~ok).sum())
    return ok


def check_movies(source: Source) -> tuple[np.ndarray, list[str], list[str]]:
    """Sorted movie ids, titles and genres; fails on bad or duplicate ids and unknown genres."""
    ids = source.values("movieId", np.int64)
    _check_ids(source, "movieId", ids)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    duplicate = np.zeros(len(ids), bool)
    duplicate[order[1:]] = sorted_ids[1:] == sorted_ids[:-1]
    source.fail_at(duplicate, lambda r: f"duplicate movieId {ids[r]}")
    genres = source.table.column("genres").to_pylist()
    known = set(schema.GENRES)
    for row, value in enumerate(genres):
        unknown = [g for g in value.split("|") if g not in known]
        if unknown:
            line = row + source.first_line
            raise DataError(f"unknown genre {unknown[0]!r} in {value!r}", path=source.path, line=line)
    titles = source.table.column("title").to_pylist()
    return sorted_ids, [titles[i] for i in order], [genres[i] for i in order]


def check_ratings(source: Source, layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """userId int32, movieId, rating float32 and timestamp arrays; fails on ids, the scale, duplicates."""
    users = source.values("userId", np.int64)
    movies = source.values("movieId", np.int64)
    ratings = source.values("rating", np.float32)
    timestamps = source.values("timestamp", np.int64)
    _check_ids(source, "userId", users)
    _check_ids(source, "movieId", movies)
    steps = ratings / layout.rating_step
    off_scale = ~((ratings >= layout.min_rating) & (ratings <= 5.0) & (steps == np.round(steps)))
    grid = "half-star" if layout.rating_step == 0.5 else "whole-star"
    source.fail_at(off_scale, lambda r: f"rating {ratings[r]:g} is outside {layout.min_rating:g}..5 or off the "
                                        f"{grid} grid")  # fmt: skip
    source.fail_at(timestamps < 0, lambda r: f"timestamp {timestamps[r]} is negative")
    # Duplicate (userId, movieId) pairs: releases are sorted by (userId, movieId), so one diff usually
    # decides; otherwise sort the packed keys.
    keys = (users << 32) | movies
    step = np.diff(keys)
    if not np.all(step > 0):
        order = np.argsort(keys, kind="stable")
        duplicate = np.zeros(len(keys), bool)
        duplicate[order[1:]] = keys[order[1:]] == keys[order[:-1]]
        source.fail_at(duplicate, lambda r: f"duplicate rating of movieId {movies[r]} by userId {users[r]}")
    return users.astype(np.int32), movies, ratings, timestamps


def ratings_source(folder: Path, layout: Layout) -> Source:
    """The ratings file of a release folder as a typed table (the same in every adapter)."""
    path, fmt = Path(folder) / layout.ratings, layout.ratings_format
    return Source(path, read_table(path, schema.RATINGS, fmt), fmt.first_line)


def read_ratings(folder: Path) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ratings of the release in `folder`, validated as training reads them: (the file, userId int32,
    movieId, rating float32, timestamp)."""
    layout = detect(folder)
    source = ratings_source(folder, layout)
    return (source.path, *check_ratings(source, layout))


def check_genome(scores: Source, tags: Source, movie_ids: np.ndarray, drop: bool,
                 dropped: dict) -> tuple[np.ndarray, list[str], np.ndarray]:  # fmt: skip
    tag_ids = tags.values("tagId", np.int64)
    _check_ids(tags, "tagId", tag_ids)
    tag_order = np.argsort(tag_ids)
    tag_ids = tag_ids[tag_order]
    if np.any(tag_ids[1:] == tag_ids[:-1]):
        raise DataError("duplicate tagId", path=tags.path)
    tag_names = [tags.table.column("tag").to_pylist()[i] for i in tag_order]

    movies = scores.values("movieId", np.int64)
    tag_of_row = scores.values("tagId", np.int64)
    relevance = scores.values("relevance", np.float32)
    scores.fail_at(~((relevance >= 0) & (relevance <= 1)), lambda r: f"relevance {relevance[r]:g} is outside [0, 1]")
    keep = _known(scores, "movieId", movies, movie_ids, drop, dropped)
    keep &= _known(scores, "tagId", tag_of_row, tag_ids, drop, dropped)
    if not keep.all():
        movies, tag_of_row, relevance = movies[keep], tag_of_row[keep], relevance[keep]
    step = np.diff(movies)
    if np.all(step >= 0):  # released sorted by movieId: no sort needed
        starts = np.flatnonzero(step) + 1
        genome_movies = movies[np.concatenate([[0], starts])]
        row = np.concatenate([[0], np.cumsum(step != 0)])
    else:
        genome_movies, row = np.unique(movies, return_inverse=True)
    col = np.searchsorted(tag_ids, tag_of_row)
    genome = np.full((len(genome_movies), len(tag_ids)), np.nan, np.float32)
    genome[row, col] = relevance
    missing = np.isnan(genome)
    if missing.any():
        g, t = np.argwhere(missing)[0]
        raise DataError(
            f"genome is not dense: movieId {genome_movies[g]} has no score for tagId {tag_ids[t]} "
            f"({int(missing.sum())} missing scores)",
            path=scores.path,
        )
    if len(movies) != genome.size:
        raise DataError("duplicate (movieId, tagId) genome rows", path=scores.path)
    return genome_movies, tag_names, genome


def read_csv_release(folder: Path) -> ReleaseTables:
    """The CSV layout's adapter: its files are the tables. The genome is optional (ml-latest-small, ml-32m)."""
    ratings = ratings_source(folder, releases.LAYOUTS["csv"])

    def read(name: str, columns: tuple, **options) -> Source:
        return Source(folder / name, read_table(folder / name, columns, **options))

    genome = {}
    if (folder / releases.GENOME_SCORES).exists() or (folder / releases.GENOME_TAGS).exists():
        genome = {"genome_tags": read(releases.GENOME_TAGS, schema.GENOME_TAGS),
                  "genome_scores": read(releases.GENOME_SCORES, schema.GENOME_SCORES)}  # fmt: skip
    return ReleaseTables(
        movies=read(releases.MOVIES, schema.MOVIES),
        ratings=ratings,
        tags=read(releases.TAGS, schema.TAGS, allow_no_rows=True),
        links=read(releases.LINKS, schema.LINKS, allow_no_rows=True),
        **genome,
    )


def detect(folder: Path) -> Layout:
    layout = releases.detect_layout(folder)
    if layout is None:
        raise DataError("no MovieLens release here (no ratings.csv, ratings.dat nor u.data)", path=folder)
    return layout


def read_tables(folder: Path, layout: Layout) -> ReleaseTables:
    """The files of `folder` read by `layout`'s adapter."""
    if layout.name == "csv":
        return read_csv_release(folder)
    ratings = ratings_source(folder, layout)
    if layout.name == "100k":
        return load_100k.read_release(folder, ratings)
    return load_dat.read_release(folder, layout, ratings)


def load_release(folder: Path, *, drop_orphans: bool = False) -> RawRelease:
    """Reads and validates every file of the release in `folder` (any layout, detected from its files)."""
    folder = Path(folder)
    layout = detect(folder)
    tables = read_tables(folder, layout)
    dropped: dict[str, int] = {}
    movie_ids, titles, genres = check_movies(tables.movies)

    users, movies, ratings, timestamps = check_ratings(tables.ratings, layout)
    keep = _known(tables.ratings, "movieId", movies, movie_ids, drop_orphans, dropped)
    if not keep.all():
        users, movies, ratings, timestamps = users[keep], movies[keep], ratings[keep], timestamps[keep]

    tag_movies, tag_times, tag_text = np.zeros(0, np.int64), np.zeros(0, np.int64), pa.chunked_array([], pa.string())
    if tables.tags is not None:
        tags = tables.tags
        tag_movies, tag_times = tags.values("movieId", np.int64), tags.values("timestamp", np.int64)
        _check_ids(tags, "userId", tags.values("userId", np.int64))
        _check_ids(tags, "movieId", tag_movies)
        tags.fail_at(tag_times < 0, lambda r: f"timestamp {tag_times[r]} is negative")
        keep = _known(tags, "movieId", tag_movies, movie_ids, drop_orphans, dropped)
        tag_movies, tag_times = tag_movies[keep], tag_times[keep]
        tag_text = tags.table.column("tag").filter(pa.array(keep))

    link_movies, imdb_ids, tmdb_ids = np.zeros(0, np.int64), [], np.zeros(0, np.int64)
    if tables.links is not None:
        links = tables.links
        link_movies = links.values("movieId", np.int64)
        keep = _known(links, "movieId", link_movies, movie_ids, drop_orphans, dropped)
        link_movies, tmdb_ids = link_movies[keep], links.values("tmdbId", np.int64, fill=-1)[keep]
        imdb_ids = links.table.column("imdbId").filter(pa.array(keep)).to_pylist()

    genome_movie_ids = genome_tags = genome = None
    if tables.genome_scores is not None and tables.genome_tags is not None:
        genome_movie_ids, genome_tags, genome = check_genome(
            tables.genome_scores, tables.genome_tags, movie_ids, drop_orphans, dropped
        )
    return RawRelease(
        movie_ids=movie_ids,
        titles=titles,
        genres=genres,
        user_ids=users,
        rating_movie_ids=movies,
        ratings=ratings,
        timestamps=timestamps,
        tag_movie_ids=tag_movies,
        tags=tag_text,
        tag_timestamps=tag_times,
        link_movie_ids=link_movies,
        imdb_ids=imdb_ids,
        tmdb_ids=tmdb_ids,
        genome_movie_ids=genome_movie_ids,
        genome_tags=genome_tags,
        genome=genome,
        demographics=None if tables.demographics is None else tables.demographics.table,
        dropped={k: v for k, v in dropped.items() if v},
    )
