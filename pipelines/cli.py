"""The flags of every `python -m` entry point, defined in one place so that one flagfile serves them all.

Only entry points call these functions (STYLE.md: flags live in entry points): each defines the groups,
turns FLAGS into its frozen config dataclasses once with `config_from_flags`, and passes configs down.
Defining every group in every entry point is what lets `configs/demo.flags` drive prepare, train,
evaluate and export alike.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from absl import flags

from pipelines import releases
from pipelines.errors import DataError
from pipelines.synthetic_world import PRESETS

FLAGS = flags.FLAGS
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "movielens_two_tower"
Config = TypeVar("Config")


def define_data_flags() -> None:
    flags.DEFINE_string("data_dir", None, "Extracted MovieLens folder or release zip; unset: download --release.")
    flags.DEFINE_enum("release", releases.DEFAULT_RELEASE, list(releases.RELEASES), "Release to download.")
    flags.DEFINE_string("cache_dir", str(DEFAULT_CACHE_DIR), "Downloads and prepared data sets.")
    flags.DEFINE_float("val_frac", None, "Validation window share of ratings (default 0.05, 0.1 under 1M).")
    flags.DEFINE_float("test_frac", None, "Test window share of ratings (default 0.05, 0.1 under 1M).")
    flags.DEFINE_bool("drop_orphans", False, "Drop and count rows that reference unknown movies or tags.")
    flags.DEFINE_string("base_url", None, "Download mirror instead of files.grouplens.org.")
    flags.DEFINE_enum("synthetic", None, list(PRESETS), "Use a synthetic release of this size (offline).")
    flags.DEFINE_integer("synthetic_seed", 0, "Seed of the synthetic release.")


def define_eval_flags() -> None:
    """Flags of pipelines.evaluate (the evaluation issue)."""


def define_train_flags() -> None:
    """Flags of pipelines.train (the towers and training issue)."""


def define_all_flags() -> None:
    define_data_flags()
    define_eval_flags()
    define_train_flags()


def config_from_flags(cls: type[Config]) -> Config:
    """The frozen config dataclass `cls`, its fields read from the flags of the same names."""
    return cls(**{name: FLAGS[name].value for name in cls.__dataclass_fields__})  # type: ignore[attr-defined]


def exits_2_on_bad_input(main: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
    """Wraps an absl `main`: bad input ends with a one-line `error: ...` on stderr and exit code 2."""

    @functools.wraps(main)
    def wrapped(argv: list[str]) -> None:
        if len(argv) > 1:
            print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
            sys.exit(2)
        try:
            main(argv)
        except (DataError, ValueError, OSError) as error:
            print(f"error: {error}".replace("\n", " "), file=sys.stderr)
            sys.exit(2)

    return wrapped
