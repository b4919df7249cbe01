"""The adapter for ml-1m's and ml-10m's ``::``-separated .dat files (no header, never quoted).

- ratings.dat ``UserID::MovieID::Rating::Timestamp`` (ml-1m whole stars, ml-10m half stars);
- movies.dat ``MovieID::Title::Genres``: ml-1m in Latin-1 with the genre ``Children's`` (the CSV releases'
  ``Children``), ml-10m in UTF-8 with the CSV releases' genre names;
- tags.dat (ml-10m) ``UserID::MovieID::Tag::Timestamp``;
- users.dat (ml-1m) ``UserID::Gender::Age::Occupation::Zip-code``: checked and kept, unused by the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from pipelines.data import releases, schema
from pipelines.data.releases import Layout
from pipelines.data.schema import ReleaseTables, Source
from pipelines.data.text_files import TextFormat, read_table

GENRE_ALIASES = {"Children's": "Children"}  # ml-1m and ml-100k spell it so
AGE_CODES = (1, 18, 25, 35, 45, 50, 56)  # ml-1m's README: under 18, 18-24, ..., 56+
OCCUPATIONS = range(21)


def text_format(layout: Layout, free_text: int) -> TextFormat:
    return TextFormat(separator="::", header=False, quoted=False, free_text=free_text,
                      encoding="latin-1" if layout.name == "1m" else "utf-8")  # fmt: skip


def canonical_genres(movies: Source) -> Source:
    """The movies table with the CSV releases' genre names."""
    genres = movies.table.column("genres")
    for alias, name in GENRE_ALIASES.items():
        genres = pc.replace_substring(genres, alias, name)
    table = movies.table.set_column(movies.table.schema.get_field_index("genres"), "genres", genres)
    return Source(movies.path, table, movies.first_line)


def check_demographics(users: Source) -> None:
    gender = users.table.column("gender").to_pylist()
    users.fail_at(np.array([g not in ("M", "F") for g in gender]), lambda r: f"gender {gender[r]!r} is not M or F")
    age = users.values("age", np.int64)
    users.fail_at(~np.isin(age, AGE_CODES), lambda r: f"age {age[r]} is not one of the codes {AGE_CODES}")
    job = users.values("occupation", np.int64)
    users.fail_at(~np.isin(job, OCCUPATIONS), lambda r: f"occupation {job[r]} is outside 0..20")


def read_release(folder: Path, layout: Layout, ratings: Source) -> ReleaseTables:
    """The tables of an ml-1m or ml-10m folder (`ratings` already read)."""

    def read(name: str, columns: tuple, fmt: TextFormat, **options) -> Source:
        return Source(folder / name, read_table(folder / name, columns, fmt, **options), fmt.first_line)

    movies = canonical_genres(read(releases.MOVIES_DAT, schema.MOVIES, text_format(layout, free_text=1)))
    if layout.name == "1m":
        users = read(releases.USERS_DAT, schema.DEMOGRAPHICS, text_format(layout, free_text=None))
        check_demographics(users)
        return ReleaseTables(movies=movies, ratings=ratings, demographics=users)
    tags = read(releases.TAGS_DAT, schema.TAGS, text_format(layout, free_text=2), allow_no_rows=True)
    return ReleaseTables(movies=movies, ratings=ratings, tags=tags)
