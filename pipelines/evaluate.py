"""Scores the baselines (and a trained model, and the planted oracle of a synthetic release) on the
protocol's validation and test windows:

    python -m pipelines.evaluate --flagfile=configs/demo.flags [--model_dir=DIR] [--baselines=all|none|a,b]
                                 [--out_dir=DIR]

writes metrics.json, report.md, PNG plots and TensorBoard logs into --out_dir and prints the main table.
Exit code 2 with a one-line error on bad input.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import time
from pathlib import Path

from absl import app, logging

from pipelines import baselines, cli, planted, report
from pipelines.baselines import BaselineConfig
from pipelines.dataset import Prepared
from pipelines.errors import DataError
from pipelines.evaluation import DEFAULT_BATCH_SIZE, Recommender, evaluate
from pipelines.prepare import PrepareConfig, prepare

MODEL_MODULE = "pipelines.model_recommender"


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """What to score and where the report goes.

    Attributes:
      model_dir: a trained model (pipelines.train); None or a folder that does not exist: baselines only.
      baselines: 'all', 'none' or a comma list of pipelines.baselines.NAMES.
      planted_oracle: also score the planted oracle and its history-taste variant (pipelines.planted) when
        the release has planted_truth.npz.
      out_dir: output folder; None: <model_dir>/evaluation, or runs/evaluation without a model.
      eval_batch_size, eval_resamples, eval_seed: evaluator batch size, bootstrap resamples and seed.
    """

    model_dir: str | None = None
    baselines: str = "all"
    planted_oracle: bool = True
    out_dir: str | None = None
    eval_batch_size: int = DEFAULT_BATCH_SIZE
    eval_resamples: int = 1000
    eval_seed: int = 0


def load_model_recommender(model_dir: str, fingerprint: str | None = None) -> Recommender:
    """The trained model in model_dir as a Recommender (pipelines.model_recommender.load); with a
    fingerprint, a model trained on other data is refused."""
    try:
        module = importlib.import_module(MODEL_MODULE)
    except ModuleNotFoundError as error:
        if error.name != MODEL_MODULE:
            raise
        raise DataError(f"cannot score a model: {MODEL_MODULE} does not exist yet (the training issue)") from error
    return module.load(model_dir, fingerprint)


def resolve(config: EvaluateConfig) -> EvaluateConfig:
    """model_dir set to None when that folder does not exist (with a warning), before anything is written,
    so that the default out_dir never creates an empty model folder."""
    if config.model_dir and not Path(config.model_dir).exists():
        logging.warning("no trained model in %s (run pipelines.train first): baselines only", config.model_dir)
        return dataclasses.replace(config, model_dir=None)
    return config


def output_dir(config: EvaluateConfig) -> Path:
    if config.out_dir:
        return Path(config.out_dir)
    return Path(config.model_dir) / "evaluation" if config.model_dir else Path("runs/evaluation")


def recommenders(prepared: Prepared, config: EvaluateConfig, baseline_config: BaselineConfig):
    """Yields (recommender, fit seconds): the model, the oracle, then the baselines (fitted lazily, so that
    only one baseline's matrices are in memory at a time)."""
    if config.model_dir:
        start = time.perf_counter()
        yield load_model_recommender(config.model_dir, prepared.figures.get("fingerprint")), time.perf_counter() - start
    data_dir = prepared.figures.get("data_dir")
    if config.planted_oracle and planted.has_planted_truth(data_dir):
        start = time.perf_counter()
        oracle = planted.load_oracle(data_dir, prepared.catalog)
        yield oracle, time.perf_counter() - start
        yield planted.HistoryTasteOracle(oracle), 0.0
    split, num_movies = prepared.split, prepared.catalog.num_movies
    for name in baselines.parse_names(config.baselines):
        start = time.perf_counter()
        recommender = baselines.fit(name, split.train, num_movies, split.t_val, baseline_config, seed=config.eval_seed)
        yield recommender, time.perf_counter() - start


def run(prepared: Prepared, config: EvaluateConfig, baseline_config: BaselineConfig) -> dict:
    """Every recommender on both windows; the metrics.json structure of pipelines.report."""
    baselines.parse_names(config.baselines)  # fail on a bad name before any work
    counts, num_movies = prepared.train_counts, prepared.catalog.num_movies
    methods = {}
    for recommender, fit_seconds in recommenders(prepared, config, baseline_config):
        methods[recommender.name] = {"fit_seconds": round(fit_seconds, 2)}
        for window, cases in (("validation", prepared.split.val), ("test", prepared.split.test)):
            result = evaluate(recommender, cases, num_movies, counts, batch_size=config.eval_batch_size,
                              resamples=config.eval_resamples, seed=config.eval_seed)  # fmt: skip
            methods[recommender.name][window] = result.to_json()
            logging.info("%s %s: recall@20 %.4f in %.1f s", recommender.name, window,
                         result.overall["recall@20"]["mean"], result.seconds)  # fmt: skip
    if not methods:
        raise DataError("nothing to evaluate: no model, no planted oracle and --baselines=none")
    return {
        "figures": prepared.figures,
        "config": {"evaluate": dataclasses.asdict(config), "baselines": dataclasses.asdict(baseline_config)},
        "methods": methods,
    }


@cli.exits_2_on_bad_input
def main(argv: list[str]) -> None:
    prepare_config = cli.config_from_flags(PrepareConfig)
    config = resolve(cli.config_from_flags(EvaluateConfig))
    baseline_config = cli.config_from_flags(BaselineConfig)
    out_dir = output_dir(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    resolved = {"prepare": dataclasses.asdict(prepare_config), "evaluate": dataclasses.asdict(config),
                "baselines": dataclasses.asdict(baseline_config)}  # fmt: skip
    (out_dir / "config.json").write_text(json.dumps(resolved, indent=1))
    results = run(prepare(prepare_config), config, baseline_config)
    report.write(results, out_dir)
    print(report.terminal_table(results))
    print(f"wrote {out_dir / 'metrics.json'}, {out_dir / 'report.md'}, plots and {out_dir / 'tensorboard'}")


if __name__ == "__main__":
    cli.define_all_flags()
    app.run(main)
