"""Registry of the MovieLens releases that share the ml-latest schema."""

from __future__ import annotations

import dataclasses

BASE_URL = "https://files.grouplens.org/datasets/movielens"

RATINGS, MOVIES, TAGS, LINKS = "ratings.csv", "movies.csv", "tags.csv", "links.csv"
GENOME_SCORES, GENOME_TAGS = "genome-scores.csv", "genome-tags.csv"


@dataclasses.dataclass(frozen=True)
class Release:
    """One published MovieLens archive.

    Attributes:
      name: archive stem, also the folder name inside the zip (``ml-latest``).
      has_genome: whether the archive ships ``genome-scores.csv`` / ``genome-tags.csv``.
      ratings: published rating count, for the README and sanity messages only.
    """

    name: str
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
        base = (RATINGS, MOVIES, TAGS, LINKS)
        return (*base, GENOME_SCORES, GENOME_TAGS) if self.has_genome else base


RELEASES: dict[str, Release] = {
    r.name: r
    for r in (
        Release("ml-latest", has_genome=True, ratings=33_832_162),
        Release("ml-latest-small", has_genome=False, ratings=100_836),
        Release("ml-25m", has_genome=True, ratings=25_000_095),
        Release("ml-32m", has_genome=False, ratings=32_000_204),
    )
}
DEFAULT_RELEASE = "ml-latest"


def get_release(name: str) -> Release:
    try:
        return RELEASES[name]
    except KeyError:
        raise ValueError(f"unknown release {name!r}; known: {', '.join(RELEASES)}") from None
