"""Prepares a MovieLens release: download or local folder/zip -> validated features + protocol split, cached.

    python -m pipelines.prepare --data_dir=DIR [--val_frac --test_frac --cache_dir]

prints one JSON line of figures. Exit code 2 with a one-line error on bad input.
"""

from __future__ import annotations

import json
import time

from absl import app

from pipelines import cli
from pipelines.data.prepared import PrepareConfig, prepare


@cli.exits_2_on_bad_input
def main(argv: list[str]) -> None:
    start = time.perf_counter()
    prepared = prepare(cli.config_from_flags(PrepareConfig))
    print(json.dumps({**prepared.figures, "seconds": round(time.perf_counter() - start, 2)}))


if __name__ == "__main__":
    cli.define_all_flags(PrepareConfig)
    app.run(main, flags_parser=cli.parse_flags)
