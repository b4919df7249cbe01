"""Writes a synthetic MovieLens release:

    python -m pipelines.synthetic --out=DIR [--preset=tiny|small|full] [--seed=N] [--layout=csv|10m|1m|100k]

The release has known structure planted in it (pipelines/data/synthetic/), in the files of ml-latest (csv),
or of ml-10m, ml-1m or ml-100k.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags

from pipelines import cli
from pipelines.data.releases import LAYOUTS
from pipelines.data.synthetic.release import generate
from pipelines.data.synthetic.world import PRESETS

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("out", None, "Folder to write the release into (replaced if it exists).")
    flags.DEFINE_enum("preset", "small", list(PRESETS), "Size: tiny (tests), small (demo), full (ml-latest).")
    flags.DEFINE_integer("seed", 0, "Random seed; the same seed writes the same bytes.")
    flags.DEFINE_enum("layout", "csv", list(LAYOUTS), "Files as ml-latest writes them (csv), or as ml-10m, "
                      "ml-1m or ml-100k do; the ratings are the same.")  # fmt: skip


def main(argv: list[str]) -> None:
    if len(argv) > 1 or not FLAGS.out:
        print("error: usage: python -m pipelines.synthetic --out=DIR [--preset --seed --layout]", file=sys.stderr)
        sys.exit(2)
    print(generate(Path(FLAGS.out), FLAGS.preset, FLAGS.seed, FLAGS.layout))


if __name__ == "__main__":
    define_flags()
    app.run(main, flags_parser=cli.parse_flags)
