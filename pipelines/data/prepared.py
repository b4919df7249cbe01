"""The prepared data set of a release: download or local folder/zip -> validated features + protocol split,
cached under the cache folder (pipelines.data.dataset holds its on-disk format)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from absl import logging

from pipelines.data import dataset, releases
from pipelines.data.dataset import Prepared
from pipelines.data.download import resolve_data_dir
from pipelines.data.errors import DataError
from pipelines.data.features import aggregate_tags, build_catalog
from pipelines.data.load import load_release
from pipelines.data.split import group_by_user, temporal_split
from pipelines.data.synthetic.release import generate
from pipelines.data.synthetic.world import GENERATOR_VERSION, PRESETS

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "movielens_two_tower"
LARGE_RELEASE_RATINGS = 1_000_000  # protocol: 0.05 / 0.05 for ml-latest-sized data, 0.1 / 0.1 for small


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    """Where the data comes from and how it is split.

    Attributes:
      data_dir: Extracted MovieLens folder or release zip; unset: download --release.
      release: Release to download when data_dir is not given.
      cache_dir: Downloads, extracted archives and prepared data sets.
      val_frac: Validation window share of ratings (default 0.05, 0.1 under 1M ratings).
      test_frac: Test window share of ratings (default 0.05, 0.1 under 1M ratings).
      drop_orphans: Drop and count rows that reference unknown movies or genome tags instead of failing.
      base_url: Download mirror instead of files.grouplens.org (tests point it at a local server).
      synthetic: Use a synthetic release of this size (tiny, small, full), generated once into the cache
        (offline) instead of real data.
      synthetic_seed: Seed of the synthetic release.
    """

    data_dir: str | None = None
    release: str = dataclasses.field(default=releases.DEFAULT_RELEASE, metadata={"choices": tuple(releases.RELEASES)})
    cache_dir: str = str(DEFAULT_CACHE_DIR)
    val_frac: float | None = None
    test_frac: float | None = None
    drop_orphans: bool = False
    base_url: str | None = None
    synthetic: str | None = dataclasses.field(default=None, metadata={"choices": tuple(PRESETS)})
    synthetic_seed: int = 0


def default_fractions(num_ratings: int) -> float:
    return 0.05 if num_ratings >= LARGE_RELEASE_RATINGS else 0.1


def build(folder: Path, config: PrepareConfig) -> Prepared:
    """Loads, validates, featurises and splits one release folder (no caching)."""
    start = time.perf_counter()
    raw = load_release(folder, drop_orphans=config.drop_orphans)
    logging.info("loaded %s in %.1f s", folder, time.perf_counter() - start)
    catalog = build_catalog(raw)
    movies = catalog.index_of(raw.rating_movie_ids)
    data = group_by_user(raw.user_ids, movies, raw.ratings, raw.timestamps)
    default = default_fractions(len(movies))
    val_frac = default if config.val_frac is None else config.val_frac
    test_frac = default if config.test_frac is None else config.test_frac
    split = temporal_split(data, val_frac=val_frac, test_frac=test_frac)
    tags = aggregate_tags(raw, catalog, before=split.t_val)
    figures = {
        "ratings": len(movies),
        "users": len(data),
        "movies": catalog.num_movies,
        "genome_movies": int(catalog.has_genome.sum()),
        "train_ratings": len(split.train.movies),
        "t_val": split.t_val,
        "t_test": split.t_test,
        **{
            f"{name}_{figure}": value
            for name, cases in (("val", split.val), ("test", split.test))
            for figure, value in (
                ("users", len(cases)),
                ("targets", len(cases.target_movies)),
                ("cold_users", int(np.sum(cases.cold_users))),
            )
        },
        "val_frac": val_frac,
        "test_frac": test_frac,
        "dropped": raw.dropped,
    }
    logging.info("prepared in %.1f s", time.perf_counter() - start)
    return Prepared(catalog=catalog, tags=tags, split=split, figures=figures)


def data_folder(config: PrepareConfig, cache_dir: Path, *, progress: bool = True) -> Path:
    """The release folder: a synthetic one (generated once), a local folder or zip, or a download."""
    if config.synthetic is None:
        return resolve_data_dir(config.data_dir, config.release, cache_dir, base_url=config.base_url,
                                progress=progress)  # fmt: skip
    if config.data_dir is not None:
        raise DataError("give either data_dir or synthetic, not both")
    if config.synthetic not in PRESETS:
        raise DataError(f"unknown synthetic preset {config.synthetic!r}; known: {', '.join(PRESETS)}")
    folder = cache_dir / f"ml-synthetic-{config.synthetic}-seed{config.synthetic_seed}-v{GENERATOR_VERSION}"
    if not (folder / releases.RATINGS).exists():  # generated in the CSV layout
        logging.info("generating the synthetic %s release into %s", config.synthetic, folder)
        generate(folder, config.synthetic, config.synthetic_seed)
    return folder


def prepare(config: PrepareConfig, *, progress: bool = True) -> Prepared:
    """The cached `build`: the first run writes the prepared data, later runs load it in seconds."""
    cache_dir = Path(config.cache_dir).expanduser()
    folder = data_folder(config, cache_dir, progress=progress)
    inputs = releases.release_files(folder)
    params = {"val_frac": config.val_frac, "test_frac": config.test_frac, "drop_orphans": config.drop_orphans}
    target = cache_dir / "prepared" / dataset.fingerprint(inputs, params)
    if not (target / "strings.json").exists():
        dataset.save(build(folder, config), target)
    prepared = dataset.load(target)
    return dataclasses.replace(
        prepared, figures={**prepared.figures, "data_dir": str(folder), "fingerprint": target.name}
    )
