"""Trains the two-tower model:  python -m pipelines.train --flagfile=configs/demo.flags [--model_dir=DIR]

prepare (cached) -> genome encoder -> two-tower training with validation each epoch on the protocol's
validation window -> early stopping -> best weights -> final validation and test metrics (metrics.json).
Re-running with the same --model_dir resumes an interrupted run from its last epoch.
"""

from __future__ import annotations

import dataclasses
import json

from absl import app

from export.build import ExportConfig
from pipelines import cli
from pipelines.input import InputConfig
from pipelines.prepare import PrepareConfig, prepare
from pipelines.training import TrainConfig, make_strategy, train
from towers.genome_encoder import GenomeConfig
from towers.towers import TowerConfig

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
    configs = {
        "prepare": cli.config_from_flags(PrepareConfig),
        "input": cli.config_from_flags(InputConfig),
        "towers": cli.config_from_flags(TowerConfig),
        "genome": cli.config_from_flags(GenomeConfig),
        "train": cli.config_from_flags(TrainConfig),
    }
    resolved = {name: dataclasses.asdict(config) for name, config in configs.items()}
    strategy = make_strategy(configs["train"])  # before any other TensorFlow work
    print(json.dumps({"config": resolved}))
    prepared = prepare(configs["prepare"])
    export_config = cli.config_from_flags(ExportConfig)
    metrics = train(
        prepared,
        configs["input"],
        configs["towers"],
        configs["genome"],
        configs["train"],
        resolved,
        strategy,
        export_config,
    )
    print(summary(metrics))


if __name__ == "__main__":
    cli.define_all_flags()
    app.run(main)
