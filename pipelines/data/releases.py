"""Registry of the MovieLens releases and of the file layouts they come in.

Four layouts, each read by its own adapter into the same validated tables (pipelines.data.load):

- ``csv``: ml-latest, ml-latest-small, ml-20m, ml-25m, ml-32m: ratings.csv, movies.csv, tags.csv,
  links.csv, and genome-scores.csv / genome-tags.csv where there is a genome.
- ``10m``: ml-10m (folder ml-10M100K): ``::``-separated ratings.dat (half stars), movies.dat and tags.dat
  in UTF-8, the CSV releases' genre names.
- ``1m``: ml-1m: ``::``-separated ratings.dat (whole stars), movies.dat in Latin-1 (genre ``Children's``),
  users.dat (demographics). No tags, no links.
- ``100k``: ml-100k: tab-separated u.data (whole stars), ``|``-separated u.item (Latin-1, 19 genre flags
  in the order of u.genre). No tags, no links.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipelines.data.errors import DataError
from pipelines.data.text_files import CSV, TextFormat

BASE_URL = "https://files.grouplens.org/datasets/movielens"

RATINGS, MOVIES, TAGS, LINKS = "ratings.csv", "movies.csv", "tags.csv", "links.csv"
GENOME_SCORES, GENOME_TAGS = "genome-scores.csv", "genome-tags.csv"
RATINGS_DAT, MOVIES_DAT, TAGS_DAT, USERS_DAT = "ratings.dat", "movies.dat", "tags.dat", "users.dat"
U_DATA, U_ITEM, U_GENRE = "u.data", "u.item", "u.genre"


@dataclasses.dataclass(frozen=True)
class Layout:
    """How one family of releases lays out its files.

    Attributes:
      name: csv, 10m, 1m or 100k.
      files: the files the loader reads, ratings first (its presence identifies the layout in a folder;
        the CSV layout's genome files are optional and not listed).
      min_rating, rating_step: the rating scale, min_rating..5 in steps of rating_step.
      ratings_format: how the ratings file is written.
    """

    name: str
    files: tuple[str, ...]
    min_rating: float
    rating_step: float
    ratings_format: TextFormat

    @property
    def ratings(self) -> str:
        return self.files[0]

    @property
    def scale(self) -> str:
        """The rating scale in words, for error messages."""
        grid = "half-star" if self.rating_step == 0.5 else "whole-star"
        return f"{self.min_rating:g}..5 on the {grid} grid"


DAT = TextFormat(separator="::", header=False, quoted=False)
TAB = TextFormat(separator="\t", header=False, quoted=False)
LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("csv", (RATINGS, MOVIES, TAGS, LINKS), min_rating=0.5, rating_step=0.5, ratings_format=CSV),
        Layout("10m", (RATINGS_DAT, MOVIES_DAT, TAGS_DAT), min_rating=0.5, rating_step=0.5, ratings_format=DAT),
        Layout("1m", (RATINGS_DAT, MOVIES_DAT, USERS_DAT), min_rating=1.0, rating_step=1.0, ratings_format=DAT),
        Layout("100k", (U_DATA, U_ITEM, U_GENRE), min_rating=1.0, rating_step=1.0, ratings_format=TAB),
    )
}
GENOME_FILES = (GENOME_SCORES, GENOME_TAGS)


def detect_layout(folder: Path) -> Layout | None:
    """The layout of the release files in `folder`, or None when it holds none.

    Raises:
      DataError: ratings.dat without users.dat or tags.dat (ml-1m has the first, ml-10m the second).
    """
    folder = Path(folder)
    if (folder / U_DATA).is_file():
        return LAYOUTS["100k"]
    if (folder / RATINGS_DAT).is_file():
        if (folder / USERS_DAT).is_file():
            return LAYOUTS["1m"]
        if (folder / TAGS_DAT).is_file():
            return LAYOUTS["10m"]
        raise DataError(f"{RATINGS_DAT} without {USERS_DAT} (ml-1m) or {TAGS_DAT} (ml-10m): a file is missing",
                        path=folder)  # fmt: skip
    if (folder / RATINGS).is_file():
        return LAYOUTS["csv"]
    return None


def release_files(folder: Path) -> list[Path]:
    """Every release file present in `folder` (what a prepared data set's fingerprint covers)."""
    layout = detect_layout(folder)
    names = (*layout.files, *GENOME_FILES) if layout else ()
    return [Path(folder) / name for name in names if (Path(folder) / name).is_file()]


@dataclasses.dataclass(frozen=True)
class Release:
    """One published MovieLens archive.

    Attributes:
      name: archive stem (``ml-latest``); the archive is ``<name>.zip`` beside ``<name>.zip.md5``, and
        unpacks into one folder (its name does not matter: ml-10m's is ml-10M100K).
      layout: name of its file layout (LAYOUTS).
      has_genome: whether the archive ships ``genome-scores.csv`` / ``genome-tags.csv``.
      ratings: published rating count, for the README and sanity messages only.
    """

    name: str
    layout: str
    has_genome: bool
    ratings: int

    @property
    def url(self) -> str:
        return f"{BASE_URL}/{self.name}.zip"

    @property
    def md5_url(self) -> str:
        return f"{self.url}.md5"

    @property
    def files(self) -> tuple[str, ...]:
        files = LAYOUTS[self.layout].files
        return (*files, *GENOME_FILES) if self.has_genome else files


RELEASES: dict[str, Release] = {
    r.name: r
    for r in (
        Release("ml-latest", "csv", has_genome=True, ratings=33_832_162),
        Release("ml-latest-small", "csv", has_genome=False, ratings=100_836),
        Release("ml-32m", "csv", has_genome=False, ratings=32_000_204),
        Release("ml-25m", "csv", has_genome=True, ratings=25_000_095),
        Release("ml-20m", "csv", has_genome=True, ratings=20_000_263),
        Release("ml-10m", "10m", has_genome=False, ratings=10_000_054),  # unpacks into ml-10M100K/
        Release("ml-1m", "1m", has_genome=False, ratings=1_000_209),
        Release("ml-100k", "100k", has_genome=False, ratings=100_000),
    )
}
DEFAULT_RELEASE = "ml-latest"


def get_release(name: str) -> Release:
    try:
        return RELEASES[name]
    except KeyError:
        raise ValueError(f"unknown release {name!r}; known: {', '.join(RELEASES)}") from None
