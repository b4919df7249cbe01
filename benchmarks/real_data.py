"""The model against baselines tuned on the validation window, on a real release, over several seeds:

    python -m benchmarks.real_data --data_dir=ml-latest-small.zip [--runs_flagfile=configs/ml-latest-small.flags]
                                   [--seeds=3] [--work_dir=runs/real_data]

Trains the default model exactly as a user would (`python -m pipelines.train --flagfile=... --data_dir=...
--seed=S`, one run per seed), scores the baselines with `python -m pipelines.evaluate` (each tuned on the
validation window, then scored once on the test window), and prints one table per window: the model's
mean and spread over seeds, every tuned baseline with its chosen setting, and each metric's ratio to the
best tuned baseline with its 95% paired bootstrap interval: the model's per-case values (the mean over seeds,
from each model folder's per_case.npz) and the baseline's (the evaluation's per_case.npz) resampled over the
same cases. Everything is written to <work_dir>/real_data.json.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from absl import app, flags

from benchmarks.measure import run_measured
from pipelines.evaluation import metrics, per_case
from pipelines.evaluation.report import MODEL

FLAGS = flags.FLAGS
WINDOWS = ("validation", "test")
COLUMNS = ("recall@20", "ndcg@100", "coverage@10", "cold_movie_share@20")
RATIO_METRICS = ("recall@20", "ndcg@100")
RESAMPLES = 2000


def define_flags() -> None:
    flags.DEFINE_string("data_dir", None, "The real release: an extracted folder or its zip.")
    flags.DEFINE_string("runs_flagfile", "configs/ml-latest-small.flags", "Flagfile of the runs (a user's).")
    flags.DEFINE_integer("seeds", 3, "Training seeds 0..seeds-1.")
    flags.DEFINE_string("work_dir", "runs/real_data", "Models, the evaluation and real_data.json go here.")
    flags.DEFINE_list("extra", [], "More flags for every run, e.g. --extra=--epochs=5,--batch_size=512.")


@dataclasses.dataclass(frozen=True)
class Row:
    """One method on one window: metric -> mean, plus the cold-movie-target slice and, for the model, the
    spread (max - min) over seeds."""

    name: str
    values: dict[str, float]
    spread: dict[str, float]
    cold_recall: float
    cold_cases: int
    setting: str = ""


def figures(window: dict) -> tuple[dict[str, float], float, int]:
    overall = {name: window["overall"][name]["mean"] for name in COLUMNS if name in window["overall"]}
    cold = window["slices"]["cold_movie_targets"]
    return overall, cold.get("recall@20", {}).get("mean", 0.0), int(cold["cases"])


def model_row(seed_metrics: list[dict], window: str) -> Row:
    per_seed = [figures(m[window]) for m in seed_metrics]
    values = {name: float(np.mean([s[0][name] for s in per_seed])) for name in per_seed[0][0]}
    spread = {name: float(np.ptp([s[0][name] for s in per_seed])) for name in per_seed[0][0]}
    cold = float(np.mean([s[1] for s in per_seed]))
    return Row(f"{MODEL} ({len(seed_metrics)} seeds)", values, spread, cold, per_seed[0][2])


def baseline_rows(evaluation: dict, window: str) -> list[Row]:
    rows = []
    tuning = evaluation.get("tuning", {})
    for name, method in evaluation["methods"].items():
        if name == MODEL:
            continue
        values, cold, cases = figures(method[window])
        chosen = tuning.get(name, {}).get("chosen")
        setting = ", ".join(f"{k}={v}" for k, v in chosen.items()) if chosen else ("-" if name in tuning else "untuned")
        rows.append(Row(name, values, {}, cold, cases, setting))
    return rows


def best_baselines(rows: list[Row]) -> dict[str, Row]:
    """metric -> the baseline row with the highest mean (rows[0] is the model; ties: the first)."""
    return {m: max(rows[1:], key=lambda r: r.values[m]) for m in RATIO_METRICS} if len(rows) > 1 else {}


def paired_ratios(seed_values: list[per_case.PerCase], evaluation: per_case.PerCase, best: dict[str, Row],
                  window: str) -> dict[str, dict]:  # fmt: skip
    """metric -> {"ratio", "low", "high", "baseline"}: the model (per-case mean over seeds) over the best
    tuned baseline, with the 95% paired bootstrap interval (metrics.paired_ratio)."""
    out = {}
    for metric, row in best.items():
        model = np.mean([values[MODEL][window][metric] for values in seed_values], axis=0)
        baseline = evaluation[row.name][window][metric]
        if model.shape != baseline.shape:
            raise ValueError(f"{window}: the model has {len(model)} cases, {row.name} {len(baseline)}")
        out[metric] = {**metrics.paired_ratio(model, baseline, RESAMPLES, seed=0), "baseline": row.name}
    return out


def table(rows: list[Row], window: str, ratios: dict[str, dict]) -> str:
    header = f"{'method':<26}" + "".join(f"{c:>22}" for c in COLUMNS) + f"{'cold r@20':>16}  setting"
    lines = [f"{window} ({rows[0].cold_cases} cold-movie cases)", header]
    for row in rows:
        cells = []
        for name in COLUMNS:
            value = row.values.get(name, float("nan"))
            cell = f"{value:.4f}" + (f" ±{row.spread[name] / 2:.4f}" if name in row.spread else "")
            cells.append(f"{cell:>22}")
        lines.append(f"{row.name:<26}" + "".join(cells) + f"{row.cold_recall:>16.4f}  {row.setting}")
    cells = [f"{m} {r['ratio']:.2f} [{r['low']:.2f}, {r['high']:.2f}] of {r['baseline']}" for m, r in ratios.items()]
    lines.append(f"model / best tuned baseline: {', '.join(cells)} (95% paired bootstrap intervals over the cases)")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    del argv
    if not FLAGS.data_dir:
        raise app.UsageError("--data_dir is required")
    work = Path(FLAGS.work_dir)
    common = [f"--flagfile={FLAGS.runs_flagfile}", f"--data_dir={FLAGS.data_dir}", *FLAGS.extra]
    seed_metrics, seconds = [], {}
    for seed in range(FLAGS.seeds):
        model_dir = work / f"seed-{seed}"
        run = run_measured(["-m", "pipelines.train", *common, f"--seed={seed}", f"--model_dir={model_dir}",
                            "--noexport"])  # fmt: skip
        seconds[f"train seed {seed}"] = round(run.seconds, 1)
        seed_metrics.append(json.loads((model_dir / "metrics.json").read_text()))
    evaluation_dir = work / "evaluation"
    run = run_measured(["-m", "pipelines.evaluate", *common, "--model_dir=", f"--out_dir={evaluation_dir}"])
    seconds["evaluate (tuned baselines)"] = round(run.seconds, 1)
    evaluation = json.loads((evaluation_dir / "metrics.json").read_text())
    evaluation_values = per_case.load(evaluation_dir / per_case.FILE)
    seed_values = [per_case.load(work / f"seed-{seed}" / per_case.FILE) for seed in range(FLAGS.seeds)]
    report = {"data_dir": FLAGS.data_dir, "flagfile": FLAGS.runs_flagfile, "extra": FLAGS.extra,
              "seconds": seconds, "windows": {}}  # fmt: skip
    for window in WINDOWS:
        rows = [model_row(seed_metrics, window), *baseline_rows(evaluation, window)]
        ratios = paired_ratios(seed_values, evaluation_values, best_baselines(rows), window)
        report["windows"][window] = [dataclasses.asdict(r) for r in rows]
        report.setdefault("ratios", {})[window] = ratios
        print(table(rows, window, ratios), "\n")
    print(json.dumps(seconds))
    (work / "real_data.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    define_flags()
    app.run(main)
