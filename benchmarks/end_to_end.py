"""Full-size end to end on an ml-latest-sized synthetic release: prepare -> train -> evaluate -> export.

    python -m benchmarks.end_to_end [--work_dir=/tmp/e2e] [--data_dir=DIR] [--epochs=1] [--steps_per_epoch=0]
        [--train_flagfile=configs/ml-latest.flags] [--extra=--flag,--flag=value]

Each stage runs as a user would run it (`python -m ...`) in its own process; the table gives its wall
time and that process's peak RSS. Goal (issue 6, this 2-core CPU): whole run under 30 minutes, peak RSS
under 12 GB. Generating the synthetic release (about 2 minutes) is setup, reported but not counted.
Not part of CI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from absl import app, flags

from benchmarks.measure import Measured, run_measured

FLAGS = flags.FLAGS
GOALS = {"seconds": 30 * 60, "peak_rss_gb": 12.0}


def main(argv: list[str]) -> None:
    del argv
    work = Path(FLAGS.work_dir)
    data = Path(FLAGS.data_dir) if FLAGS.data_dir else work / "ml-synthetic-full"
    cache, model_dir = work / "cache", work / "model"
    stages: dict[str, Measured] = {}
    if not (data / "ratings.csv").exists():
        stages["setup: generate full synthetic"] = run_measured(
            ["-m", "pipelines.synthetic", f"--out={data}", "--preset=full", "--seed=0"]
        )
    if FLAGS.fresh:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(model_dir, ignore_errors=True)
    common = [f"--data_dir={data}", f"--cache_dir={cache}", f"--model_dir={model_dir}"]
    stages["prepare (cold cache)"] = run_measured(["-m", "pipelines.prepare", *common])
    # A flagfile's own --release, --cache_dir and --model_dir give way to the ones here (later flags win).
    settings = [f"--flagfile={FLAGS.train_flagfile}"] if FLAGS.train_flagfile else [
        "--batch_size=1024", "--steps_per_execution=32"]  # fmt: skip
    stages[f"train: genome AE + {FLAGS.epochs} epoch(s) + validation"] = run_measured(
        [
            "-m",
            "pipelines.train",
            *settings,
            *common,
            f"--epochs={FLAGS.epochs}",
            f"--steps_per_epoch={FLAGS.steps_per_epoch}",
            *FLAGS.extra,
            "--export=false",
        ]
    )
    stages["evaluate (model + popularity)"] = run_measured(
        [
            "-m",
            "pipelines.evaluate",
            *common,
            "--baselines=popularity",
            "--planted_oracle=false",
            f"--out_dir={work / 'evaluation'}",
        ]
    )
    stages["export (SavedModel + ScaNN)"] = run_measured(["-m", "export.build", f"--model_dir={model_dir}"])
    counted = {k: v for k, v in stages.items() if not k.startswith("setup")}
    print(f"{'stage':<44}{'wall s':>10}{'peak RSS GB':>14}")
    for name, measured in stages.items():
        print(f"{name:<44}{measured.seconds:>10.1f}{measured.peak_rss_gb:>14.2f}")
    total = sum(m.seconds for m in counted.values())
    peak = max(m.peak_rss_gb for m in counted.values())
    print(f"{'total (without setup)':<44}{total:>10.1f}{peak:>14.2f}")
    print(f"goal: total <= {GOALS['seconds']} s: {'met' if total <= GOALS['seconds'] else 'MISSED'}; "
          f"peak <= {GOALS['peak_rss_gb']} GB: {'met' if peak <= GOALS['peak_rss_gb'] else 'MISSED'}")  # fmt: skip
    print(json.dumps({"stages": {k: {"seconds": round(v.seconds, 1), "peak_rss_gb": round(v.peak_rss_gb, 2)}
                                 for k, v in stages.items()}, "total_seconds": round(total, 1),
                      "peak_rss_gb": round(peak, 2)}))  # fmt: skip


if __name__ == "__main__":
    flags.DEFINE_string("work_dir", "/tmp/e2e", "Where the release, cache, model and outputs go.")
    flags.DEFINE_string("data_dir", None, "A release folder to use instead of generating the full synthetic one.")
    flags.DEFINE_integer("epochs", 1, "Training epochs (validation after each).")
    flags.DEFINE_integer("steps_per_epoch", 0, "Cap on training steps (0: one full epoch).")
    flags.DEFINE_string(
        "train_flagfile",
        "",
        "A flagfile for the training stage (e.g. configs/ml-latest.flags); "
        "empty: batch 1024, 32 steps per call, the other settings at their defaults.",
    )
    flags.DEFINE_list("extra", [], "More flags for the training stage, comma-separated.")
    flags.DEFINE_bool("fresh", True, "Start from an empty cache and model directory.")
    app.run(main)
