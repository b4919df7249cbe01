"""Loads and validates one extracted MovieLens release folder.

Policy for bad input (documented in BUILD_NOTES.md, tested in tests/pipelines/test_load.py): anything
that means the files are not a well-formed MovieLens release fails with a DataError naming the file,
line and value. References to unknown movies or genome tags (ratings, tags, links or genome rows of a
movie absent from movies.csv) fail too, unless `drop_orphans` is set, in which case those rows are
dropped and counted in `RawRelease.dropped`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines.data import releases
from pipelines.data.csv_files import FLOAT, INT, OPTIONAL_INT, TEXT, Column, column, fail_at, read_csv
from pipelines.data.errors import DataError

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
    "(no genres listed)",
)  # fmt: skip

MOVIES = (Column("movieId", pa.int64(), INT), Column("title", pa.string(), TEXT),
          Column("genres", pa.string(), TEXT))  # fmt: skip
RATINGS = (Column("userId", pa.int64(), INT), Column("movieId", pa.int64(), INT),
           Column("rating", pa.float32(), FLOAT), Column("timestamp", pa.int64(), INT))  # fmt: skip
TAGS = (Column("userId", pa.int64(), INT), Column("movieId", pa.int64(), INT),
        Column("tag", pa.string(), TEXT), Column("timestamp", pa.int64(), INT))  # fmt: skip
LINKS = (Column("movieId", pa.int64(), INT), Column("imdbId", pa.string(), TEXT),
         Column("tmdbId", pa.int64(), OPTIONAL_INT, nullable=True))  # fmt: skip
GENOME_SCORES = (Column("movieId", pa.int64(), INT), Column("tagId", pa.int64(), INT),
                 Column("relevance", pa.float32(), FLOAT))  # fmt: skip
GENOME_TAGS = (Column("tagId", pa.int64(), INT), Column("tag", pa.string(), TEXT))

MAX_ID = 2**31 - 1


@dataclasses.dataclass
class RawRelease:
    """Validated columns of one release; movie ids are still MovieLens ids.

    Attributes:
      movie_ids, titles, genres: movies.csv, sorted by movieId.
      user_ids, rating_movie_ids, ratings, timestamps: ratings.csv in file order.
      tag_movie_ids, tags, tag_timestamps: tags.csv.
      link_movie_ids, imdb_ids, tmdb_ids: links.csv (tmdb -1 where empty).
      genome_movie_ids [G], genome_tags [T], genome [G, T]: the tag genome, or None without one.
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
    dropped: dict[str, int]


def _check_ids(path: Path, name: str, ids: np.ndarray) -> None:
    fail_at(path, (ids <= 0) | (ids > MAX_ID), lambda r: f"{name} {ids[r]} is out of range 1..{MAX_ID}")


def _known(path: Path, name: str, ids: np.ndarray, known: np.ndarray, drop: bool, dropped: dict) -> np.ndarray:
    """Mask of rows whose id is in `known` (sorted); fails on the first unknown unless dropping."""
    position = np.minimum(np.searchsorted(known, ids), len(known) - 1)
    ok = known[position] == ids if len(known) else np.zeros(len(ids), bool)
    if not drop:
        fail_at(path, ~ok, lambda r: f"{name} {ids[r]} is not in the catalog")
    dropped[f"{path.name}:{name}"] = int((~ok).sum())
    return ok


def read_movies(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    table = read_csv(path, MOVIES)
    ids = column(table, "movieId", np.int64)
    _check_ids(path, "movieId", ids)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    duplicate = np.zeros(len(ids), bool)
    duplicate[order[1:]] = sorted_ids[1:] == sorted_ids[:-1]
    fail_at(path, duplicate, lambda r: f"duplicate movieId {ids[r]}")
    genres = table.column("genres").to_pylist()
    known = set(GENRES)
    for row, value in enumerate(genres):
        unknown = [g for g in value.split("|") if g not in known]
        if unknown:
            raise DataError(f"unknown genre {unknown[0]!r} in {value!r}", path=path, line=row + 2)
    titles = table.column("title").to_pylist()
    return sorted_ids, [titles[i] for i in order], [genres[i] for i in order]


def read_ratings(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    table = read_csv(path, RATINGS)
    users = column(table, "userId", np.int64)
    movies = column(table, "movieId", np.int64)
    ratings = column(table, "rating", np.float32)
    timestamps = column(table, "timestamp", np.int64)
    del table
    _check_ids(path, "userId", users)
    _check_ids(path, "movieId", movies)
    off_grid = ~((ratings >= 0.5) & (ratings <= 5.0) & (ratings * 2 == np.round(ratings * 2)))
    fail_at(path, off_grid, lambda r: f"rating {ratings[r]:g} is outside 0.5..5 or off the half-star grid")
    fail_at(path, timestamps < 0, lambda r: f"timestamp {timestamps[r]} is negative")
    # Duplicate (userId, movieId) pairs: releases are sorted by (userId, movieId), so one diff usually
    # decides; otherwise sort the packed keys.
    keys = (users << 32) | movies
    step = np.diff(keys)
    if not np.all(step > 0):
        order = np.argsort(keys, kind="stable")
        duplicate = np.zeros(len(keys), bool)
        duplicate[order[1:]] = keys[order[1:]] == keys[order[:-1]]
        fail_at(path, duplicate, lambda r: f"duplicate rating of movieId {movies[r]} by userId {users[r]}")
    return users.astype(np.int32), movies, ratings, timestamps


def read_genome(
    scores_path: Path, tags_path: Path, movie_ids: np.ndarray, drop: bool, dropped: dict
) -> tuple[np.ndarray, list[str], np.ndarray]:
    tags_table = read_csv(tags_path, GENOME_TAGS)
    tag_ids = column(tags_table, "tagId", np.int64)
    _check_ids(tags_path, "tagId", tag_ids)
    tag_order = np.argsort(tag_ids)
    tag_ids = tag_ids[tag_order]
    if np.any(tag_ids[1:] == tag_ids[:-1]):
        raise DataError("duplicate tagId", path=tags_path)
    tag_names = [tags_table.column("tag").to_pylist()[i] for i in tag_order]

    table = read_csv(scores_path, GENOME_SCORES)
    movies = column(table, "movieId", np.int64)
    tags = column(table, "tagId", np.int64)
    relevance = column(table, "relevance", np.float32)
    del table
    fail_at(scores_path, ~((relevance >= 0) & (relevance <= 1)),
            lambda r: f"relevance {relevance[r]:g} is outside [0, 1]")  # fmt: skip
    keep = _known(scores_path, "movieId", movies, movie_ids, drop, dropped)
    keep &= _known(scores_path, "tagId", tags, tag_ids, drop, dropped)
    if not keep.all():
        movies, tags, relevance = movies[keep], tags[keep], relevance[keep]
    step = np.diff(movies)
    if np.all(step >= 0):  # released sorted by movieId: no sort needed
        starts = np.flatnonzero(step) + 1
        genome_movies = movies[np.concatenate([[0], starts])]
        row = np.concatenate([[0], np.cumsum(step != 0)])
    else:
        genome_movies, row = np.unique(movies, return_inverse=True)
    col = np.searchsorted(tag_ids, tags)
    genome = np.full((len(genome_movies), len(tag_ids)), np.nan, np.float32)
    genome[row, col] = relevance
    missing = np.isnan(genome)
    if missing.any():
        g, t = np.argwhere(missing)[0]
        raise DataError(
            f"genome is not dense: movieId {genome_movies[g]} has no score for tagId {tag_ids[t]} "
            f"({int(missing.sum())} missing scores)",
            path=scores_path,
        )
    if len(movies) != genome.size:
        raise DataError("duplicate (movieId, tagId) genome rows", path=scores_path)
    return genome_movies, tag_names, genome


def load_release(folder: Path, *, drop_orphans: bool = False) -> RawRelease:
    """Reads every file of the release in `folder`; the genome is optional (ml-latest-small, ml-32m)."""
    folder = Path(folder)
    dropped: dict[str, int] = {}
    movie_ids, titles, genres = read_movies(folder / releases.MOVIES)

    ratings_path = folder / releases.RATINGS
    users, movies, ratings, timestamps = read_ratings(ratings_path)
    keep = _known(ratings_path, "movieId", movies, movie_ids, drop_orphans, dropped)
    if not keep.all():
        users, movies, ratings, timestamps = users[keep], movies[keep], ratings[keep], timestamps[keep]

    tags_path = folder / releases.TAGS
    tags_table = read_csv(tags_path, TAGS, allow_no_rows=True)
    tag_movies = column(tags_table, "movieId", np.int64)
    tag_times = column(tags_table, "timestamp", np.int64)
    _check_ids(tags_path, "userId", column(tags_table, "userId", np.int64))
    _check_ids(tags_path, "movieId", tag_movies)
    fail_at(tags_path, tag_times < 0, lambda r: f"timestamp {tag_times[r]} is negative")
    keep = _known(tags_path, "movieId", tag_movies, movie_ids, drop_orphans, dropped)
    tag_text = tags_table.column("tag").filter(pa.array(keep))

    links_path = folder / releases.LINKS
    links = read_csv(links_path, LINKS, allow_no_rows=True)
    link_movies = column(links, "movieId", np.int64)
    keep_links = _known(links_path, "movieId", link_movies, movie_ids, drop_orphans, dropped)

    genome_movie_ids = genome_tags = genome = None
    scores_path, genome_tags_path = folder / releases.GENOME_SCORES, folder / releases.GENOME_TAGS
    if scores_path.exists() or genome_tags_path.exists():
        genome_movie_ids, genome_tags, genome = read_genome(
            scores_path, genome_tags_path, movie_ids, drop_orphans, dropped
        )
    return RawRelease(
        movie_ids=movie_ids,
        titles=titles,
        genres=genres,
        user_ids=users,
        rating_movie_ids=movies,
        ratings=ratings,
        timestamps=timestamps,
        tag_movie_ids=tag_movies[keep],
        tags=tag_text,
        tag_timestamps=tag_times[keep],
        link_movie_ids=link_movies[keep_links],
        imdb_ids=links.column("imdbId").filter(pa.array(keep_links)).to_pylist(),
        tmdb_ids=column(links, "tmdbId", np.int64, fill=-1)[keep_links],
        genome_movie_ids=genome_movie_ids,
        genome_tags=genome_tags,
        genome=genome,
        dropped={k: v for k, v in dropped.items() if v},
    )
