"""One evaluation of several methods: the trained model, the planted oracles of a synthetic release and the
baselines, each on the protocol's validation and test windows (what `pipelines.evaluate` runs)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from absl import logging

from pipelines.data.dataset import Prepared
from pipelines.data.errors import DataError
from pipelines.evaluation import planted, tuning
from pipelines.evaluation.baselines import registry
from pipelines.evaluation.baselines.content import MovieContent
from pipelines.evaluation.baselines.registry import BaselineConfig
from pipelines.evaluation.evaluator import DEFAULT_BATCH_SIZE, Recommender, evaluate
from pipelines.evaluation.per_case import PerCase


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """What to score and where the report goes.

    Attributes:
      model_dir: Where the model, checkpoints, TensorBoard logs and metrics go (pipelines.evaluate scores the
        model there; empty or a folder that does not exist: baselines only).
      baselines: Baselines to score: all, none, or a comma list of popularity, recent_popularity, item_knn,
        ease, ials, new_in_genres, title_knn.
      planted_oracle: Also score the planted oracle and its history-taste variant when the release is
        synthetic (has planted_truth.npz).
      out_dir: Where metrics.json, report.md, plots and TensorBoard logs go (default: <model_dir>/evaluation,
        or runs/evaluation without a model).
      eval_batch_size: Cases per scoring call (memory: batch x catalog float32).
      eval_resamples: Bootstrap resamples for the 95% intervals (0: none).
      eval_seed: Seed of the bootstrap resamples and of the iALS initialisation.
      tune_baselines: Choose each baseline's settings on the validation window from its grid
        (pipelines/evaluation/tuning.py) by tune_metric, then score the test window once with them; false:
        the --recent_days, --knn_neighbors, --ease_lambda and --ials_* values as given.
      tune_metric: Validation metric the baselines are tuned by (the model's early-stopping metric).
      tune_max_cases: Tune on at most this many validation cases (a seeded sample; 0 = all of them).
    """

    model_dir: str | None = "runs/model"
    baselines: str = "all"
    planted_oracle: bool = True
    out_dir: str | None = None
    eval_batch_size: int = DEFAULT_BATCH_SIZE
    eval_resamples: int = 1000
    eval_seed: int = 0
    tune_baselines: bool = True
    tune_metric: str = "recall@20"
    tune_max_cases: int = 0


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


def recommenders(
    prepared: Prepared,
    config: EvaluateConfig,
    baseline_config: BaselineConfig,
    load_model: Callable[[str, str | None], Recommender] | None = None,
    tuning_log: dict | None = None,
) -> Iterator[tuple[Recommender, float]]:
    """Yields (recommender, fit seconds): the model (when config.model_dir is set, loaded by `load_model`
    from that folder and the data fingerprint), the oracle, then the baselines (fitted lazily, so that only
    one baseline's matrices are in memory at a time). With config.tune_baselines each baseline is the best
    point of its grid on the validation window (fit seconds: the whole grid), and `tuning_log` receives
    each one's grid, validation scores and choice."""
    if config.model_dir and load_model is not None:
        start = time.perf_counter()
        yield load_model(config.model_dir, prepared.figures.get("fingerprint")), time.perf_counter() - start
    data_dir = prepared.figures.get("data_dir")
    if config.planted_oracle and planted.has_planted_truth(data_dir):
        start = time.perf_counter()
        oracle = planted.load_oracle(data_dir, prepared.catalog)
        yield oracle, time.perf_counter() - start
        yield planted.HistoryTasteOracle(oracle), 0.0
    split, num_movies = prepared.split, prepared.catalog.num_movies
    movie_content = MovieContent.of(prepared.catalog)
    for name in registry.parse_names(config.baselines):
        start = time.perf_counter()
        if config.tune_baselines:
            tuned = tuning.tune(name, split.train, split.val, num_movies, split.t_val, prepared.train_counts,
                                baseline_config, metric=config.tune_metric, max_cases=config.tune_max_cases or None,
                                seed=config.eval_seed, batch_size=config.eval_batch_size,
                                movie_content=movie_content)  # fmt: skip
            if tuning_log is not None:
                tuning_log[name] = tuned.to_json()
            yield tuned.recommender, time.perf_counter() - start
            continue
        recommender = registry.fit(name, split.train, num_movies, split.t_val, baseline_config, config.eval_seed,
                                   movie_content)  # fmt: skip
        yield recommender, time.perf_counter() - start


def run(
    prepared: Prepared,
    config: EvaluateConfig,
    baseline_config: BaselineConfig,
    load_model: Callable[[str, str | None], Recommender] | None = None,
    per_case: PerCase | None = None,
) -> dict:
    """Every recommender on both windows; the metrics.json structure of pipelines.evaluation.report.

    `load_model(model_dir, fingerprint)` turns a trained model folder into a Recommender (the entry point
    passes pipelines.training.recommender.load, so that this package needs no TensorFlow). `per_case`, when
    given, receives each method's values case by case (method -> window -> metric -> [C])."""
    registry.parse_names(config.baselines)  # fail on a bad name before any work
    counts, num_movies = prepared.train_counts, prepared.catalog.num_movies
    methods, tuning_log = {}, {}
    for recommender, fit_seconds in recommenders(prepared, config, baseline_config, load_model, tuning_log):
        methods[recommender.name] = {"fit_seconds": round(fit_seconds, 2)}
        for window, cases in (("validation", prepared.split.val), ("test", prepared.split.test)):
            result = evaluate(recommender, cases, num_movies, counts, batch_size=config.eval_batch_size,
                              resamples=config.eval_resamples, seed=config.eval_seed)  # fmt: skip
            methods[recommender.name][window] = result.to_json()
            if per_case is not None:
                per_case.setdefault(recommender.name, {})[window] = result.per_case
            logging.info("%s %s: recall@20 %.4f in %.1f s", recommender.name, window,
                         result.overall["recall@20"]["mean"], result.seconds)  # fmt: skip
    if not methods:
        raise DataError("nothing to evaluate: no model, no planted oracle and --baselines=none")
    return {
        "figures": prepared.figures,
        "config": {"evaluate": dataclasses.asdict(config), "baselines": dataclasses.asdict(baseline_config)},
        "methods": methods,
        **({"tuning": tuning_log} if tuning_log else {}),
    }
