"""What `pipelines.evaluate` writes: metrics.json, report.md with tables and PNG plots, TensorBoard scalars,
per_case.npz (pipelines.evaluation.per_case).

`results` throughout is the JSON written to metrics.json:
{"figures": prepared figures, "config": resolved configs,
 "methods": {name: {"fit_seconds": s, "validation": Evaluation.to_json(), "test": ...}}}.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipelines.console import plural
from pipelines.data import atomic
from pipelines.evaluation import metrics
from pipelines.evaluation import per_case as per_case_file

WINDOWS = ("validation", "test")
TABLE_METRICS = (*metrics.METRICS, "coverage@10", "popularity_percentile@10")
TERMINAL_METRICS = (
    "recall@20",
    "recall@100",
    "ndcg@10",
    "hit@10",
    "mrr@100",
    "coverage@10",
    "popularity_percentile@10",
)
SLICES = ("cold_users", "users_with_history", "cold_movie_targets", "warm_movie_targets")
PLOTS = {"recall_at_k.png": "recall@K per method", "by_history_length.png": "recall@20 by query-history length",
         "popularity_bias.png": "accuracy against popularity bias"}  # fmt: skip


def cell(value: dict | None, interval: bool = True, digits: int = 4) -> str:
    """'0.1469 [0.1350, 0.1588]' from {"mean", "low", "high"}; '-' when missing."""
    if not value or "mean" not in value:
        return "-"
    text = f"{value['mean']:.{digits}f}"
    if interval and "low" in value:
        text += f" [{value['low']:.{digits}f}, {value['high']:.{digits}f}]"
    return text


def terminal_table(results: dict) -> str:
    """The main table, one block per window: a method per row, recall@20 with its interval."""
    lines = []
    for window in WINDOWS:
        lines.append(f"{window}: full-catalog ranking, mean over cases [95% bootstrap interval]")
        labels = [m.replace("popularity_percentile", "pop.pct") for m in TERMINAL_METRICS[1:]]
        width = max(20, *(len(name) + 2 for name in results["methods"]))
        lines.append(f"{'method':<{width}}{'cases':>7}  {'recall@20':<27}" + "".join(f"{m:>12}" for m in labels))
        for name, method in results["methods"].items():
            ev = method[window]
            row = f"{name:<{width}}{ev['cases']:>7}  {cell(ev['overall']['recall@20']):<27}"
            for m in TERMINAL_METRICS[1:]:
                row += f"{ev['overall'][m]['mean']:>12.4f}" if m != "popularity_percentile@10" else \
                    f"{ev['overall'][m]['mean']:>12.1f}"  # fmt: skip
            lines.append(row)
        lines.append("")
    lines += tuning_lines(results)
    return "\n".join(lines).rstrip()


def chosen_text(tuned: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in tuned["chosen"].items()) or "-"


def tuning_lines(results: dict) -> list[str]:
    """One line per tuned baseline: its choice, the validation score that chose it, the grid's size."""
    tuning = results.get("tuning") or {}
    if not tuning:
        return []
    metric = next(iter(tuning.values()))["metric"]
    lines = [f"baselines tuned on the validation window by {metric} (the test window scored once, after):"]
    for name, tuned in tuning.items():
        best = max(tuned["scores"])
        lines.append(f"  {name:<18} {chosen_text(tuned):<44} {best:.4f}  ({len(tuned['grid'])} grid points, "
                     f"{tuned['cases']} cases, {tuned['seconds']:.0f} s)")  # fmt: skip
    return lines


def tuning_markdown(results: dict) -> list[str]:
    """The grid of every tuned baseline with each point's validation score, and the choice."""
    tuning = results.get("tuning") or {}
    if not tuning:
        return []
    metric = next(iter(tuning.values()))["metric"]
    out = ["", "## Baselines tuned on the validation window", "",
           f"Each baseline's settings were chosen by validation {metric} from the grid below (ties: the first "
           "point); the test window was scored once, with the chosen settings.", "",
           "| baseline | chosen | validation | grid: validation score per point |", "|---|---|---|---|"]  # fmt: skip
    for name, tuned in tuning.items():
        points = "; ".join(
            f"{chosen_text({'chosen': point})}: {score:.4f}"
            for point, score in zip(tuned["grid"], tuned["scores"], strict=True)
        )
        out.append(f"| {name} | {chosen_text(tuned)} | {max(tuned['scores']):.4f} | {points} |")
    return out


def markdown(results: dict) -> str:
    f = results["figures"]
    out = [
        "# Evaluation report",
        "",
        f"Data: `{f.get('data_dir', '?')}`: {f['ratings']:,} ratings, {f['users']:,} users, {f['movies']:,} movies; "
        f"T_val={f['t_val']}, T_test={f['t_test']}; the protocol of docs/protocol.md in the project (full-catalog "
        "ranking, history excluded). Cells: mean over cases [95% bootstrap interval over cases].",
    ]
    for window in WINDOWS:
        out += ["", f"## {window}", "", "| method | cases | " + " | ".join(TABLE_METRICS) + " |",
                "|---|---|" + "---|" * len(TABLE_METRICS)]  # fmt: skip
        for name, method in results["methods"].items():
            ev = method[window]
            out.append(
                f"| {name} | {ev['cases']} | " + " | ".join(cell(ev["overall"][m]) for m in TABLE_METRICS) + " |"
            )
        out += ["", f"Slices ({window}), recall@20 and ndcg@10 (cases):", "",
                "| method | " + " | ".join(SLICES) + " |", "|---|" + "---|" * len(SLICES)]  # fmt: skip
        for name, method in results["methods"].items():
            cells = []
            for s in SLICES:
                sl = method[window]["slices"][s]
                cells.append(f"{cell(sl.get('recall@20'))}; {cell(sl.get('ndcg@10'), False)} ({sl['cases']})")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        buckets = next(iter(results["methods"].values()))[window]["by_history_length"]  # the same for every method
        out += ["", f"recall@20 by query-history length ({window}; cases per bucket in the header):", "",
                "| method | " + " | ".join(f"{b} ({v['cases']})" for b, v in buckets.items()) + " |",
                "|---|" + "---|" * len(buckets)]  # fmt: skip
        for name, method in results["methods"].items():
            by = method[window]["by_history_length"]
            out.append(f"| {name} | " + " | ".join(cell(by[b].get("recall@20"), False) for b in buckets) + " |")
    out += tuning_markdown(results)
    out += ["", "## Plots", ""] + [f"![{title}]({file})" for file, title in PLOTS.items()]
    fits = ", ".join(f"{n} {m['fit_seconds']:.1f} s" for n, m in results["methods"].items())
    out += ["", f"Fit times: {fits}.", ""]
    return "\n".join(out)


MODEL = "two-tower"  # the trained model's name in the results (pipelines.training.recommender)
MIN_BUCKET_CASES = 5  # history-length buckets with fewer cases are left out of the plot: their mean is noise


def _style(name: str) -> dict:
    """The model drawn bold and black, in front; the other methods thin."""
    if name == MODEL:
        return {"color": "black", "linewidth": 2.6, "markersize": 8, "zorder": 5}
    return {"linewidth": 1.2, "markersize": 5, "alpha": 0.85}


def _errors(values: list[dict]) -> tuple[list[float], list[list[float]] | None]:
    """Means and the asymmetric 95% interval as matplotlib's yerr (None where the values have none)."""
    means = [v["mean"] for v in values]
    if not all("low" in v for v in values):
        return means, None
    return means, [[m - v["low"] for m, v in zip(means, values, strict=True)],
                   [v["high"] - m for m, v in zip(means, values, strict=True)]]  # fmt: skip


def _legend(fig, axes) -> None:
    """One legend for the figure, outside the panels (never over the data)."""
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)


def plot(results: dict, out_dir: Path) -> list[Path]:
    """The three PNG plots of PLOTS (matplotlib, Agg backend): both windows, 95% intervals as error bars,
    the trained model highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = results["methods"]
    paths = []
    ks = metrics.RECALL_KS
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, window in zip(axes, WINDOWS, strict=True):
        for name, method in methods.items():
            means, errors = _errors([method[window]["overall"][f"recall@{k}"] for k in ks])
            ax.errorbar(ks, means, yerr=errors, marker="o", capsize=2, label=name, **_style(name))
        ax.set(title=window, xlabel="K", xscale="log", xticks=ks, xticklabels=[str(k) for k in ks])
    axes[0].set_ylabel("recall@K (95% interval)")
    _legend(fig, axes)
    paths.append(_save(fig, out_dir / "recall_at_k.png"))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, window in zip(axes, WINDOWS, strict=True):
        by_any = next(iter(methods.values()))[window]["by_history_length"]
        buckets = [b for b, v in by_any.items() if v["cases"] >= MIN_BUCKET_CASES]
        labels = [f"{b}\n({plural(by_any[b]['cases'], 'case')})" for b in buckets]
        for name, method in methods.items():
            by = method[window]["by_history_length"]
            means, errors = _errors([by[b]["recall@20"] for b in buckets])
            ax.errorbar(range(len(buckets)), means, yerr=errors, marker="o", capsize=2, label=name, **_style(name))
        ax.set_xticks(range(len(buckets)), labels, fontsize=8)
        ax.set(title=window, xlabel=f"query-history length (ratings; buckets of {MIN_BUCKET_CASES}+ cases)")
    axes[0].set_ylabel("recall@20 (95% interval)")
    _legend(fig, axes)
    paths.append(_save(fig, out_dir / "by_history_length.png"))

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    markers = "osD^v<>phX*"
    for column, window in enumerate(WINDOWS):
        ev = {name: method[window]["overall"] for name, method in methods.items()}
        for i, (name, o) in enumerate(ev.items()):
            means, errors = _errors([o["recall@20"]])
            style = {k: v for k, v in _style(name).items() if k != "linewidth"}
            axes[0, column].errorbar([o["popularity_percentile@10"]["mean"]], means, yerr=errors, label=name,
                                     marker="*" if name == MODEL else markers[i % len(markers)], linestyle="none",
                                     capsize=2, **style)  # fmt: skip
        axes[0, column].set(xlabel="mean popularity percentile of the top-10 movies", title=window)
        axes[1, column].barh(list(ev), [o["coverage@10"]["mean"] for o in ev.values()],
                             color=["black" if n == MODEL else "tab:gray" for n in ev])  # fmt: skip
        axes[1, column].set(xlabel="coverage@10 (share of the catalog in some top-10)", title=window)
        axes[1, column].tick_params(axis="y", labelsize=8)
    axes[0, 0].set_ylabel("recall@20 (95% interval)")
    _legend(fig, axes[0])
    paths.append(_save(fig, out_dir / "popularity_bias.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def tensorboard(results: dict, log_dir: Path, images: list[Path]) -> None:
    """Every mean as a scalar (run = method, tag = window/[slice/]metric, step 0) and the plots as images."""
    import tensorflow as tf

    for name, method in results["methods"].items():
        with tf.summary.create_file_writer(str(log_dir / name)).as_default():
            for window in WINDOWS:
                ev = method[window]
                for metric, value in ev["overall"].items():
                    tf.summary.scalar(f"{window}/{metric}", value["mean"], step=0)
                for slice_name, sl in ev["slices"].items():
                    for metric, value in sl.items():
                        if isinstance(value, dict):
                            tf.summary.scalar(f"{window}/{slice_name}/{metric}", value["mean"], step=0)
    with tf.summary.create_file_writer(str(log_dir / "plots")).as_default():
        for path in images:
            tf.summary.image(path.stem, tf.image.decode_png(path.read_bytes())[None], step=0)


def write(
    results: dict, out_dir: Path, *, per_case: per_case_file.PerCase | None = None, log_tensorboard: bool = True
) -> None:
    """metrics.json, report.md, the plots, (optionally) TensorBoard logs and, when given, the values case by
    case (per_case.npz) into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out_dir / "metrics.json", json.dumps(results, indent=1, default=_json_default))
    if per_case is not None:
        per_case_file.save(out_dir / per_case_file.FILE, per_case)
    images = plot(results, out_dir)
    atomic.write_text(out_dir / "report.md", markdown(results))
    if log_tensorboard:
        tensorboard(results, out_dir / "tensorboard", images)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")
