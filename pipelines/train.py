"""Trains the two-tower model:  python -m pipelines.train --flagfile=configs/demo.flags [--model_dir=DIR]

prepare (cached) -> genome encoder -> two-tower training with validation each epoch on the protocol's
validation window -> early stopping -> best weights -> final validation and test metrics (metrics.json).
Re-running with the same --model_dir resumes an interrupted run from its last epoch, and reuses a finished
one (exporting it if it was not); --overwrite retrains it.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from absl import app

from export.config import ExportConfig
from pipelines import cli
from pipelines.console import quiet_native_logs
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.training.callbacks import duration
from pipelines.training.config import InputConfig, RunConfig, TrainConfig
from pipelines.training.distribute import make_strategy, worker_dir
from pipelines.training.loop import MEMBERS, check_compatible, train, trains_apart
from pipelines.training.model_dir import CONFIG, METRICS, check_fingerprint, finished_run, read_config
from towers.config import GenomeConfig, TowerConfig

SUMMARY_METRICS = ("recall@10", "recall@20", "recall@50", "recall@100", "ndcg@10", "hit@10", "mrr@100")


def summary(metrics: dict) -> str:
    """One screen: epochs, speed, and the main validation and test figures with 95% intervals."""
    lines = [
        f"epochs run {metrics['epochs_run']} (best {metrics['best_epoch']}), "
        f"{metrics['steps_per_epoch']} steps/epoch, {metrics['seconds']} s"
    ]
    speed = metrics["history"].get("examples_per_s")
    if speed:
        lines.append(f"training examples/s (last epoch): {speed[-1]:,.0f}")
    lines.append(f"{'metric':<14}{'validation':>26}{'test':>26}")
    for name in SUMMARY_METRICS:
        cells = []
        for window in ("validation", "test"):
            value = metrics[window]["overall"][name]
            cells.append(f"{value['mean']:.4f} [{value.get('low', 0):.4f}, {value.get('high', 0):.4f}]")
        lines.append(f"{name:<14}{cells[0]:>26}{cells[1]:>26}")
    return "\n".join(lines)


def flagfile(argv: list[str]) -> str | None:
    """The --flagfile the command was given, to repeat it in the next commands."""
    files = [arg.split("=", 1)[1] for arg in argv if arg.startswith("--flagfile=")]
    return files[-1] if len(files) == 1 else None


def python_command() -> str:
    """How to call this Python again: `.venv/bin/python` from the project folder, else `python`."""
    relative = Path(os.path.relpath(sys.executable))
    return str(relative) if not relative.is_absolute() and ".." not in relative.parts else "python"


def where_and_next(
    model_dir: Path, exported: bool, flagfile: str | None, example_movies: list[int], tensorboard: Path | None = None
) -> str:
    """Where everything went, and the commands to run next; `tensorboard` is the logs' folder when it is not
    model_dir/tensorboard (members trained apart log in their own folders)."""
    tensorboard = tensorboard or model_dir / "tensorboard"
    python, export_dir = python_command(), model_dir / "export"
    flags = (f"--flagfile={flagfile} " if flagfile else "") + f"--model_dir={model_dir}"
    history = ",".join(f"{movie}:5" for movie in example_movies)
    lines = [
        "written:",
        f"  metrics      {model_dir / METRICS}",
        f"  config       {model_dir / CONFIG}",
        f"  TensorBoard  {tensorboard}",
        f"  export       {export_dir}" if exported else "  export       none (--noexport)",
        "next:",
        f"  {python} -m pipelines.evaluate {flags}    # tuned baselines, report.md and plots in "
        f"{model_dir / 'evaluation'}",
        f"  {Path(python).with_name('tensorboard') if '/' in python else 'tensorboard'} --logdir={tensorboard}",
    ]
    if exported:
        lines += [
            f"  {python} -m export.query --export_dir={export_dir} --history={history}    # movieId:rating,...",
            f"  {python} -m export.serve --export_dir={export_dir}    # HTTP API",
        ]
    return "\n".join(lines)


@cli.exits_2_on_bad_input
def main(argv: list[str]) -> None:
    run = RunConfig(
        prepare=cli.config_from_flags(PrepareConfig),
        input=cli.config_from_flags(InputConfig),
        towers=cli.config_from_flags(TowerConfig),
        genome=cli.config_from_flags(GenomeConfig),
        train=cli.config_from_flags(TrainConfig),
    )
    export_config = cli.config_from_flags(ExportConfig)
    check_compatible(run)  # before anything is read, deleted or written
    model_dir = Path(run.train.model_dir)
    strategy = make_strategy(run.train)  # before any other TensorFlow work
    is_chief, out_dir = worker_dir(strategy, model_dir)
    finished = None if run.train.overwrite else finished_run(out_dir, run)
    if finished is not None:
        print(f"{model_dir} holds a finished model trained with these settings: reusing it, nothing is retrained "
              "(--overwrite retrains it from scratch).")  # fmt: skip
    elif run.train.overwrite and (out_dir / METRICS).exists():
        print(f"--overwrite: deleting the finished model in {model_dir} and training afresh.")
        shutil.rmtree(model_dir)
    print("preparing the data ...", flush=True)
    prepared = prepare(run.prepare)
    figures = prepared.figures
    print(f"data: {figures['ratings']:,} ratings, {figures['users']:,} users, {figures['movies']:,} movies; "
          f"{figures['train_ratings']:,} ratings before the validation cut train, {figures['val_users']:,} "
          f"validation and {figures['test_users']:,} test users", flush=True)  # fmt: skip
    if finished is not None:  # the same settings, but the data may have changed under them
        check_fingerprint(out_dir, read_config(out_dir), figures.get("fingerprint"))
    metrics = finished if finished is not None else train(prepared, run, strategy)
    exported = finished is not None and (out_dir / "export" / "manifest.json").exists()
    if run.train.export and is_chief and not exported:
        from export.build import export_model  # ScaNN and the SavedModel code, only to export

        start = time.perf_counter()
        print(f"exporting the SavedModels and the ScaNN index to {out_dir / 'export'} ...", flush=True)
        with quiet_native_logs():  # ScaNN's partitioner timings
            export_model(out_dir, config=export_config, prepared=prepared)
        print(f"exported in {duration(time.perf_counter() - start)}", flush=True)
        exported = True
    print(summary(metrics))
    if is_chief:
        popular = np.argsort(-prepared.train_counts, kind="stable")[:2]
        example = [int(m) for m in prepared.catalog.movie_ids[popular]]
        logs = model_dir / MEMBERS if trains_apart(run) else None
        print(where_and_next(model_dir, exported, flagfile(sys.argv), example, logs))


if __name__ == "__main__":
    cli.define_all_flags(PrepareConfig, InputConfig, TowerConfig, GenomeConfig, TrainConfig, ExportConfig)
    app.run(main, flags_parser=cli.parse_flags)
