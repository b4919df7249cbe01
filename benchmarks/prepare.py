"""Benchmark: `pipelines.prepare` on an ml-latest-sized release, cold and warm cache.

    python -m benchmarks.prepare [--data_dir=DIR] [--work_dir=DIR]

Without --data_dir it generates the `full` synthetic release (33.8M ratings) once into --work_dir.
Each stage runs in its own process; wall time and that process's peak RSS are reported, next to the
peer the issue names for scale: pandas' C engine reading the same ratings.csv in the same session.
Targets (issue 2, this 2-core machine): cold <= 60 s and <= 6 GB peak RSS, warm <= 5 s.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from absl import app, flags

from benchmarks.measure import run_measured

FLAGS = flags.FLAGS
TARGETS = {"cold_seconds": 60.0, "cold_peak_rss_gb": 6.0, "warm_seconds": 5.0}

PANDAS_READ = """
import sys, pandas as pd
pd.read_csv(sys.argv[1], engine="c", dtype={"userId": "int32", "movieId": "int32", "rating": "float32",
                                             "timestamp": "int64"})
"""


def main(argv: list[str]) -> None:
    del argv
    work = Path(FLAGS.work_dir)
    data = Path(FLAGS.data_dir) if FLAGS.data_dir else work / "ml-synthetic-full"
    if not (data / "ratings.csv").exists():
        print(f"generating the full synthetic release into {data} (about 2 minutes)...", flush=True)
        run_measured(["-m", "pipelines.synthetic", f"--out={data}", "--preset=full", "--seed=0"])
    cache = Path(tempfile.mkdtemp(prefix="prepare-bench-", dir=work))
    try:
        peer = run_measured(["-c", PANDAS_READ, str(data / "ratings.csv")])
        prepare = ["-m", "pipelines.prepare", f"--data_dir={data}", f"--cache_dir={cache}"]
        cold = run_measured(prepare)
        warm = run_measured(prepare)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    figures = json.loads(cold.stdout)
    result = {
        "ratings": figures["ratings"],
        "cold_seconds": round(cold.seconds, 2),
        "cold_peak_rss_gb": round(cold.peak_rss_gb, 2),
        "warm_seconds": round(warm.seconds, 2),
        "warm_peak_rss_gb": round(warm.peak_rss_gb, 2),
        "pandas_read_ratings_seconds": round(peer.seconds, 2),
        "pandas_read_ratings_peak_rss_gb": round(peer.peak_rss_gb, 2),
        "cold_over_pandas_read": round(cold.seconds / peer.seconds, 2),
    }
    print(f"{'stage':<28}{'wall s':>10}{'peak RSS GB':>14}")
    print(f"{'pandas read ratings.csv':<28}{peer.seconds:>10.1f}{peer.peak_rss_gb:>14.2f}")
    print(f"{'prepare, cold cache':<28}{cold.seconds:>10.1f}{cold.peak_rss_gb:>14.2f}")
    print(f"{'prepare, warm cache':<28}{warm.seconds:>10.1f}{warm.peak_rss_gb:>14.2f}")
    for key, limit in TARGETS.items():
        print(f"{key} {result[key]} {'<=' if result[key] <= limit else 'EXCEEDS'} {limit}")
    print(json.dumps(result))


if __name__ == "__main__":
    flags.DEFINE_string("data_dir", None, "Release folder; default: generate the full synthetic release.")
    flags.DEFINE_string("work_dir", tempfile.gettempdir(), "Where the synthetic release and caches go.")
    app.run(main)
