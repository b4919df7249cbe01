"""Scores the baselines (and a trained model, and the planted oracle of a synthetic release) on the
protocol's validation and test windows:

    python -m pipelines.evaluate --flagfile=configs/demo.flags [--model_dir=DIR] [--baselines=all|none|a,b]
                                 [--out_dir=DIR]

writes metrics.json, report.md, PNG plots, TensorBoard logs and per_case.npz into --out_dir and prints the main table.
Exit code 2 with a one-line error on bad input.
"""

from __future__ import annotations

import dataclasses

from absl import app

from pipelines import cli
from pipelines.data import atomic
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.evaluation import report, suite
from pipelines.evaluation.baselines.registry import BaselineConfig
from pipelines.evaluation.evaluator import Recommender


def load_model(model_dir: str, fingerprint: str | None) -> Recommender:
    from pipelines.training import recommender  # TensorFlow, only when there is a model to score

    return recommender.load(model_dir, fingerprint)


@cli.exits_2_on_bad_input
def main(argv: list[str]) -> None:
    prepare_config = cli.config_from_flags(PrepareConfig)
    config = suite.resolve(cli.config_from_flags(suite.EvaluateConfig))
    baseline_config = cli.config_from_flags(BaselineConfig)
    out_dir = suite.output_dir(config)
    resolved = {"prepare": dataclasses.asdict(prepare_config), "evaluate": dataclasses.asdict(config),
                "baselines": dataclasses.asdict(baseline_config)}  # fmt: skip
    per_case: dict = {}
    results = suite.run(prepare(prepare_config), config, baseline_config, load_model, per_case)
    atomic.write_json(out_dir / "config.json", resolved, indent=1)  # after the run: bad input leaves no folder
    report.write(results, out_dir, per_case=per_case)
    print(report.terminal_table(results))
    print(f"wrote {out_dir / 'metrics.json'}, {out_dir / 'report.md'}, per_case.npz, plots and tensorboard/")


if __name__ == "__main__":
    cli.define_all_flags(PrepareConfig, suite.EvaluateConfig, BaselineConfig)
    app.run(main, flags_parser=cli.parse_flags)
