"""The adapter for ml-100k's files (no header, never quoted).

- u.data: tab-separated ``user item rating timestamp``, whole stars;
- u.genre: ``name|index`` lines, the order of u.item's genre flags (``unknown`` first: no genres);
- u.item: ``|``-separated, Latin-1: ``id|title|release date|video release date|IMDb URL|`` then one 0/1
  flag per u.genre line. Titles carry the year as in the other releases; the release date
  (``01-Jan-1995`` or empty) is checked, not used.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines.data import releases, schema
from pipelines.data.errors import DataError
from pipelines.data.schema import ReleaseTables, Source
from pipelines.data.text_files import INT, TEXT, Column, TextFormat, read_table

GENRE_LIST = TextFormat(separator="|", header=False, quoted=False)
ITEMS = TextFormat(separator="|", header=False, quoted=False, encoding="latin-1", free_text=1)
NO_GENRE_FLAG = "unknown"
GENRE_ALIASES = {"Children's": "Children"}
_DATE = re.compile(r"\d{2}-[A-Z][a-z]{2}-\d{4}")


def _date_text(text: str) -> str | None:
    return None if text == "" or _DATE.fullmatch(text) else f"{text!r} is not a date like 01-Jan-1995"


def _flag_text(text: str) -> str | None:
    return None if text in ("0", "1") else f"{text!r} is not a 0/1 flag"


def read_genres(path: Path) -> list[str]:
    """u.genre's names in flag order, as the CSV releases spell them (None stands for `unknown`)."""
    source = Source(path, read_table(path, (Column("genre", pa.string(), TEXT), Column("index", pa.int64(), INT)),
                                     GENRE_LIST), GENRE_LIST.first_line)  # fmt: skip
    index = source.values("index", np.int64)
    source.fail_at(index != np.arange(len(index)), lambda r: f"genre index {index[r]} out of order (expected {r})")
    names = [GENRE_ALIASES.get(g, g) for g in source.table.column("genre").to_pylist()]
    known = {*schema.GENRES, NO_GENRE_FLAG}
    source.fail_at(np.array([n not in known for n in names]), lambda r: f"unknown genre {names[r]!r}")
    return names


def read_movies(path: Path, genres: list[str]) -> Source:
    """u.item as a MOVIES table: genres joined from the flags, `unknown` (or no flag) as no genres."""
    flags = [Column(f"is_{name}", pa.int8(), _flag_text) for name in genres]
    columns = (Column("movieId", pa.int64(), INT), Column("title", pa.string(), TEXT),
               Column("release_date", pa.string(), _date_text, nullable=True), Column("video_date", pa.string(), TEXT),
               Column("url", pa.string(), TEXT), *flags)  # fmt: skip
    if len(set(genres)) != len(genres):
        raise DataError("u.genre lists a genre twice", path=path.with_name(releases.U_GENRE))
    table = read_table(path, columns, ITEMS)
    has = np.stack([table.column(c.name).to_numpy() for c in flags], axis=1).astype(bool)
    real = np.array([g != NO_GENRE_FLAG for g in genres])
    names = ["|".join(genres[g] for g in np.flatnonzero(row & real)) or schema.NO_GENRES for row in has]
    movies = pa.table({"movieId": table.column("movieId"), "title": table.column("title"), "genres": names})
    return Source(path, movies, ITEMS.first_line)


def read_release(folder: Path, ratings: Source) -> ReleaseTables:
    """The tables of an ml-100k folder (`ratings`, u.data, already read)."""
    genres = read_genres(folder / releases.U_GENRE)
    return ReleaseTables(movies=read_movies(folder / releases.U_ITEM, genres), ratings=ratings)
