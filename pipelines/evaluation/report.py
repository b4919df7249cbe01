"""What `pipelines.evaluate` writes: metrics.json, report.md with tables and PNG plots, TensorBoard scalars.

`results` throughout is the JSON written to metrics.json:
{"figures": prepared figures, "config": resolved configs,
 "methods": {name: {"fit_seconds": s, "validation": Evaluation.to_json(), "test": ...}}}.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipelines.data import atomic
from pipelines.evaluation import metrics

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
        lines.append(f"{'method':<20}{'cases':>7}  {'recall@20':<27}" + "".join(f"{m:>12}" for m in labels))
        for name, method in results["methods"].items():
            ev = method[window]
            row = f"{name:<20}{ev['cases']:>7}  {cell(ev['overall']['recall@20']):<27}"
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
        f"T_val={f['t_val']}, T_test={f['t_test']}; the protocol of `../shared/PROTOCOL.md` (full-catalog "
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


def plot(results: dict, out_dir: Path) -> list[Path]:
    """The three PNG plots of PLOTS (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = results["methods"]
    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, window in zip(axes, WINDOWS, strict=True):
        for name, method in methods.items():
            ks = metrics.RECALL_KS
            ax.plot(ks, [method[window]["overall"][f"recall@{k}"]["mean"] for k in ks], marker="o", label=name)
        ax.set(title=window, xlabel="K", xscale="log", xticks=ks, xticklabels=[str(k) for k in ks])
    axes[0].set_ylabel("recall@K")
    axes[1].legend(fontsize=8)
    paths.append(_save(fig, out_dir / "recall_at_k.png"))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, window in zip(axes, WINDOWS, strict=True):
        for name, method in methods.items():
            by = method[window]["by_history_length"]
            buckets = [b for b in by if by[b]["cases"]]
            labels = [f"{b}\n({by[b]['cases']} cases)" for b in buckets]
            ax.plot(labels, [by[b]["recall@20"]["mean"] for b in buckets], marker="o", label=name)
        ax.set(title=window, xlabel="query-history length (ratings)")
    axes[0].set_ylabel("recall@20")
    axes[1].legend(fontsize=8)
    paths.append(_save(fig, out_dir / "by_history_length.png"))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ev = {name: method["test"]["overall"] for name, method in methods.items()}
    for name, o in ev.items():
        axes[0].scatter(o["popularity_percentile@10"]["mean"], o["recall@20"]["mean"])
        axes[0].annotate(name, (o["popularity_percentile@10"]["mean"], o["recall@20"]["mean"]), fontsize=8)
    axes[0].set(xlabel="mean popularity percentile of top-10 movies", ylabel="recall@20", title="test")
    axes[1].barh(list(ev), [o["coverage@10"]["mean"] for o in ev.values()])
    axes[1].set(xlabel="coverage@10 (share of the catalog in some top-10)", title="test")
    paths.append(_save(fig, out_dir / "popularity_bias.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
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


def write(results: dict, out_dir: Path, *, log_tensorboard: bool = True) -> None:
    """metrics.json, report.md, the plots and (optionally) TensorBoard logs into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out_dir / "metrics.json", json.dumps(results, indent=1, default=_json_default))
    images = plot(results, out_dir)
    atomic.write_text(out_dir / "report.md", markdown(results))
    if log_tensorboard:
        tensorboard(results, out_dir / "tensorboard", images)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")
