"""The tables every release layout is read into: the CSV releases' columns, whatever the files look like.

Each layout's adapter (pipelines.data.load for CSV, load_dat for ml-1m / ml-10m, load_100k for ml-100k) reads
its files into a `ReleaseTables` of these columns; pipelines.data.load validates them all the same way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines.data.text_files import FLOAT, INT, OPTIONAL_INT, TEXT, Column, column, fail_at

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
    "(no genres listed)",
)  # fmt: skip
NO_GENRES = GENRES[-1]

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
# ml-1m's users.dat; ages are the release's bucket codes, occupations its 0..20 codes.
DEMOGRAPHICS = (Column("userId", pa.int64(), INT), Column("gender", pa.string(), TEXT),
                Column("age", pa.int64(), INT), Column("occupation", pa.int64(), INT),
                Column("zip", pa.string(), TEXT))  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Source:
    """One file's rows as a typed table, with where they came from (for error messages).

    Attributes:
      path: the file.
      table: its rows, with the columns of one of the specs above.
      first_line: the line number of row 0 (2 below a header, 1 without one).
    """

    path: Path
    table: pa.Table
    first_line: int = 2

    def values(self, name: str, dtype: np.dtype | type, fill: int | float | None = None) -> np.ndarray:
        return column(self.table, name, dtype, fill)

    def fail_at(self, mask: np.ndarray, message) -> None:
        """Raises DataError naming the file and the line of the first row where `mask` holds."""
        fail_at(self.path, mask, message, first_line=self.first_line)


@dataclasses.dataclass(frozen=True)
class ReleaseTables:
    """A release's files read by its layout's adapter; None where the layout has no such file.

    Attributes:
      movies, ratings: MOVIES and RATINGS columns; genres '|'-separated names of GENRES.
      tags, links: TAGS and LINKS columns.
      genome_scores, genome_tags: the tag genome, both or neither.
      demographics: DEMOGRAPHICS columns (ml-1m's users.dat).
    """

    movies: Source
    ratings: Source
    tags: Source | None = None
    links: Source | None = None
    genome_scores: Source | None = None
    genome_tags: Source | None = None
    demographics: Source | None = None
