"""Two sets of trained runs compared case by case: is setting B ahead of setting A beyond the cases' noise?

    python -m benchmarks.compare_runs --a=DIR,DIR,... --b=DIR,DIR,... [--metrics=recall@20,ndcg@100]

Each DIR is a model folder that `pipelines.train` wrote (its config.json and per_case.npz), e.g. the seeds of
one setting. For each window and metric it prints each set's mean (every case's value averaged over the
set's runs; beside it half the range of the runs' own means) and the difference B - A with its 95% paired
bootstrap interval over the cases (metrics.paired_difference: both sets' per-case values resampled with the
same draws, so which cases are easy cancels) and the share of resamples in which B is ahead. The seeds'
spread says how much a setting moves with the seed, the interval how much the cases can resolve. Both
sets must come from the same data and split, so that their cases line up: the same data fingerprint in
config.json, or else (the same release prepared in another cache, whose extracted files differ in their
times) the same data settings but the cache.
Reads files only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from absl import app, flags

from pipelines import cli
from pipelines.data.errors import DataError
from pipelines.evaluation import metrics, per_case
from pipelines.evaluation.report import MODEL

FLAGS = flags.FLAGS
WINDOWS = ("validation", "test")
RESAMPLES = 2000


def define_flags() -> None:
    flags.DEFINE_list("a", [], "The runs of setting A: model folders of pipelines.train.")
    flags.DEFINE_list("b", [], "The runs of setting B, on the same prepared data.")
    flags.DEFINE_list("metrics", ["recall@20", "ndcg@100"], "Per-case metrics to compare.")
    flags.register_validator("a", bool, "--a needs one or more model folders")
    flags.register_validator("b", bool, "--b needs one or more model folders")


def load_runs(folders: list[str]) -> tuple[list[per_case.PerCase], list[tuple[str | None, str]]]:
    """Each folder's per-case values of the model, and what it was trained on: (data fingerprint, the data
    settings but the cache)."""
    from pipelines.training import model_dir  # TensorFlow, after the flags are checked

    values, data = [], []
    for folder in folders:
        saved = model_dir.read_config(Path(folder))
        data.append((saved.data_fingerprint, repr(dataclasses.replace(saved.run.prepare, cache_dir=""))))
        values.append(per_case.load(Path(folder) / per_case.FILE))
        if MODEL not in values[-1]:
            raise DataError(f"no per-case values of the model ({MODEL})", path=Path(folder) / per_case.FILE)
    return values, data


def check_same_data(data: list[tuple[str | None, str]]) -> None:
    """Refuses runs of other data or another split: all fingerprints equal, or else all data settings."""
    fingerprints = {fingerprint for fingerprint, _ in data}
    if len(fingerprints) == 1 and None not in fingerprints:
        return
    settings = {setting for _, setting in data}
    if len(settings) > 1:
        raise ValueError(
            f"the runs were trained on different data or splits (fingerprints {sorted(map(str, fingerprints))}, "
            f"data settings {sorted(settings)})"
        )


def per_case_mean(runs: list[per_case.PerCase], window: str, metric: str) -> tuple[np.ndarray, float]:
    """[C] the runs' mean per case, and half the range of the runs' own means."""
    try:
        arrays = [run[MODEL][window][metric] for run in runs]
    except KeyError as error:
        raise ValueError(f"a run has no per-case {window} {metric} (--metrics names per-case metrics)") from error
    if len({len(a) for a in arrays}) > 1:
        raise ValueError(f"{window}: the runs have different numbers of cases: not the same prepared data")
    means = [float(np.mean(a)) for a in arrays]
    return np.mean(arrays, axis=0), (max(means) - min(means)) / 2


def compare(a: list[per_case.PerCase], b: list[per_case.PerCase], metric_names: list[str]) -> dict[str, dict]:
    """window -> metric -> {"a", "a_spread", "b", "b_spread", "difference", "low", "high", "ahead"}."""
    out: dict[str, dict] = {}
    for window in WINDOWS:
        for metric in metric_names:
            a_values, a_spread = per_case_mean(a, window, metric)
            b_values, b_spread = per_case_mean(b, window, metric)
            if a_values.shape != b_values.shape:
                raise ValueError(f"{window}: A has {len(a_values)} cases, B {len(b_values)}: not the same data")
            difference = metrics.paired_difference(a_values, b_values, RESAMPLES, seed=0)
            out.setdefault(window, {})[metric] = {
                "a": float(a_values.mean()), "a_spread": a_spread,
                "b": float(b_values.mean()), "b_spread": b_spread,
                **difference,
            }  # fmt: skip
    return out


def table(results: dict[str, dict], runs_a: int, runs_b: int) -> str:
    lines = [f"{'window':<11}{'metric':<11}{f'A ({runs_a} runs)':>18}{f'B ({runs_b} runs)':>18}"
             f"{'B - A [95% paired interval]':>34}{'P(B ahead)':>12}"]  # fmt: skip
    for window, by_metric in results.items():
        for metric, r in by_metric.items():
            a, b = f"{r['a']:.4f} ±{r['a_spread']:.4f}", f"{r['b']:.4f} ±{r['b_spread']:.4f}"
            difference = f"{r['difference']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}]"
            lines.append(f"{window:<11}{metric:<11}{a:>18}{b:>18}{difference:>34}{r['ahead']:>12.2f}")
    return "\n".join(lines)


@cli.exits_2_on_bad_input
def main(argv: list[str]) -> None:
    del argv
    a, data_a = load_runs(FLAGS.a)
    b, data_b = load_runs(FLAGS.b)
    check_same_data(data_a + data_b)
    print(table(compare(a, b, FLAGS.metrics), len(a), len(b)))
    print("± half the range of the runs' means; the interval resamples the cases (the runs' per-case mean).")


if __name__ == "__main__":
    define_flags()
    app.run(main, flags_parser=cli.parse_flags)
