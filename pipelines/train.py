"""Trains the two-tower model:  python -m pipelines.train --flagfile=configs/demo.flags [--model_dir=DIR]

prepare (cached) -> genome encoder -> two-tower training with validation each epoch on the protocol's
validation window -> early stopping -> best weights -> final validation and test metrics (metrics.json).
Re-running with the same --model_dir resumes an interrupted run from its last epoch.
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import app

from export.config import ExportConfig
from pipelines import cli
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.training.config import InputConfig, RunConfig, TrainConfig
from pipelines.training.distribute import make_strategy, worker_dir
from pipelines.training.loop import train
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
    strategy = make_strategy(run.train)  # before any other TensorFlow work
    print(json.dumps({"config": run.to_json()}))
    prepared = prepare(run.prepare)
    metrics = train(prepared, run, strategy)
    is_chief, out_dir = worker_dir(strategy, Path(run.train.model_dir))
    if run.train.export and is_chief:
        from export.build import export_model  # ScaNN and the SavedModel code, only to export

        export_model(out_dir, config=export_config, prepared=prepared)
    print(summary(metrics))


if __name__ == "__main__":
    cli.define_all_flags()
    app.run(main, flags_parser=cli.parse_flags)
