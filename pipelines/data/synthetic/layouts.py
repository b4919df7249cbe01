"""Writes a synthetic release in the layouts of ml-10m, ml-1m and ml-100k (see pipelines.data.releases).

The contents are the CSV release's, changed only as those releases differ: whole stars for ml-1m and
ml-100k (half stars rounded up, as 4.5 -> 5), ml-1m's and ml-100k's genre spelling (``Children's``, no IMAX),
Latin-1 text where they use it (a character Latin-1 lacks written as ``?``), no links and no genome; ml-1m
and ml-100k have no tags, ml-1m has users.dat. The loader must read each back into the CSV release's tables
with exactly those differences (tests/pipelines/data/test_layouts.py).
"""

from __future__ import annotations

import datetime
import urllib.parse
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines.data import releases
from pipelines.data.load_dat import AGE_CODES, OCCUPATIONS
from pipelines.data.schema import NO_GENRES

# ml-1m's and ml-100k's 18 genres (ml-100k adds `unknown` first), as they spell them.
OLD_GENRES = ("Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
              "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
              "Western")  # fmt: skip
Tables = dict[str, dict[str, pa.Array]]


def whole_stars(ratings: np.ndarray) -> np.ndarray:
    return np.maximum(np.ceil(ratings), 1.0)


def old_genres(genres: str) -> list[str]:
    """A CSV genre string in ml-1m's names: Children's, no IMAX; empty means no genres."""
    names = ["Children's" if g == "Children" else g for g in genres.split("|")]
    return [g for g in names if g in OLD_GENRES]


def latin1(text: str) -> str:
    return text.encode("latin-1", errors="replace").decode("latin-1")


def _write_lines(path: Path, rows, separator: str, encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as f:
        f.writelines(separator.join(str(v) for v in row) + "\n" for row in rows)


def _star_text(rating: float) -> str:
    return f"{rating:g}"  # ml-10m writes 5 and 4.5


def write_layout(folder: Path, layout: str, tables: Tables, dates: list[datetime.datetime],
                 rng: np.random.Generator) -> None:  # fmt: skip
    """Writes `tables` (the CSV release's columns by file name) into `folder` in `layout` (not csv).

    Args:
      dates: release date of each movies.csv row (u.item has them).
      rng: for ml-1m's demographics only, so the contents shared with the CSV release do not move.
    """
    ratings = {name: array.to_numpy(zero_copy_only=False) for name, array in tables["ratings.csv"].items()}
    movies = {name: array.to_pylist() for name, array in tables["movies.csv"].items()}
    if layout == "10m":
        stars = [_star_text(r) for r in ratings["rating"].tolist()]
    else:
        stars = [_star_text(r) for r in whole_stars(ratings["rating"]).tolist()]
    rating_rows = zip(ratings["userId"].tolist(), ratings["movieId"].tolist(), stars, ratings["timestamp"].tolist(),
                      strict=True)  # fmt: skip
    if layout == "100k":
        _write_lines(folder / releases.U_DATA, rating_rows, "\t")
        _write_100k_movies(folder, movies, dates)
        return
    _write_lines(folder / releases.RATINGS_DAT, rating_rows, "::")
    if layout == "10m":
        _write_lines(
            folder / releases.MOVIES_DAT, zip(movies["movieId"], movies["title"], movies["genres"], strict=True), "::"
        )
        tags = {name: array.to_pylist() for name, array in tables["tags.csv"].items()}
        _write_lines(folder / releases.TAGS_DAT, zip(*tags.values(), strict=True), "::")
        return
    genres = ["|".join(old_genres(g)) or NO_GENRES for g in movies["genres"]]
    titles = [latin1(t) for t in movies["title"]]
    _write_lines(folder / releases.MOVIES_DAT, zip(movies["movieId"], titles, genres, strict=True), "::", "latin-1")
    users = np.unique(ratings["userId"])
    _write_lines(folder / releases.USERS_DAT, zip(
        users.tolist(),
        rng.choice(["M", "F"], len(users)).tolist(),
        rng.choice(AGE_CODES, len(users)).tolist(),
        rng.choice(list(OCCUPATIONS), len(users)).tolist(),
        [f"{z:05d}" for z in rng.integers(0, 100_000, len(users))],
        strict=True,
    ), "::")  # fmt: skip


def _write_100k_movies(folder: Path, movies: dict[str, list], dates: list[datetime.datetime]) -> None:
    flags = ("unknown", *OLD_GENRES)
    rows = []
    for movie_id, title, genres, date in zip(movies["movieId"], movies["title"], movies["genres"], dates, strict=True):
        has = set(old_genres(genres)) or {"unknown"}
        title = latin1(title)
        url = "http://us.imdb.com/M/title-exact?" + urllib.parse.quote(title)
        rows.append([movie_id, title, date.strftime("%d-%b-%Y"), "", url, *(int(f in has) for f in flags)])
    _write_lines(folder / releases.U_ITEM, rows, "|", "latin-1")
    with (folder / releases.U_GENRE).open("w", encoding="ascii", newline="") as f:
        f.writelines(f"{name}|{index}\n" for index, name in enumerate(flags))
        f.write("\n")  # u.genre ends with an empty line
