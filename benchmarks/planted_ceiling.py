"""What the planted oracle's lead is made of: the ceiling of a synthetic release, taken apart.

    python -m benchmarks.planted_ceiling --flagfile=configs/demo.flags [--out=FILE]

Scores, on the protocol's validation and test cases with the project's evaluator, the planted oracle
(pipelines.evaluation.planted: the generator's whole truth) and variants that each forget one thing a recommender
trained on ratings cannot know:
  - the user's true drift: the oracle with each user's start taste forever (no knowledge of the
    hidden end taste the user drifts to);
  - cold movies' popularity: movies nobody rated before T_val get the mean popularity weight;
  - the user: the planted movies with the taste read from the query history (HistoryTasteOracle, the
    reference for a history-based model), then also with movie popularity estimated from training
    ratings (counts, and counts per year since the movie's first rating) instead of the planted weights;
  - the planted factors alone: the true taste . movie factor, no popularity or release dates.
and the trained model in --model_dir (the flagfile's), when it exists. Prints a markdown table of
recall@20; writes the figures as JSON to --out.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from absl import app, flags

from pipelines import cli
from pipelines.data.dataset import Prepared
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.data.synthetic.world import YEAR_S
from pipelines.evaluation import planted
from pipelines.evaluation.evaluator import Queries, evaluate

FLAGS = flags.FLAGS


class PlantedFactors:
    """The true taste at the query time . each movie's planted factor: no popularity, no release dates."""

    name = "planted_factors_alone"

    def __init__(self, oracle: planted.PlantedOracle) -> None:
        self.oracle = oracle

    def scores(self, queries: Queries) -> np.ndarray:
        o = self.oracle
        users = np.array([o.internal_user[int(u)] for u in queries.history.user_ids], np.int64)
        out = np.full((len(users), len(o.internal_movie) + 1), -np.inf, np.float32)
        out[:, 1:] = o.world.taste(users, np.asarray(queries.query_times)).astype(np.float32) @ o.factors.T
        return out


def with_popularity(oracle: planted.PlantedOracle, log_popularity: np.ndarray) -> planted.PlantedOracle:
    """The oracle with other popularity weights (its per-cluster released mass recomputed from them)."""
    return planted.PlantedOracle(oracle.world, oracle.internal_movie, oracle.internal_user, np.exp(log_popularity))


def variants(prepared: Prepared, oracle: planted.PlantedOracle) -> dict[str, object]:
    counts = prepared.train_counts[1:].astype(np.float64)
    cold = counts == 0
    mean_weight = np.log(np.mean(np.exp(oracle.log_popularity)))
    unknown_cold = np.where(cold, mean_weight, oracle.log_popularity)
    years = (prepared.split.t_val - prepared.first_rated[1:]) / YEAR_S
    no_drift = dataclasses.replace(oracle.world, user_span=np.full_like(oracle.world.user_span, 2**62))
    return {
        "planted oracle (the whole truth)": oracle,
        "  without the user's drift (start taste forever)": planted.PlantedOracle(
            no_drift, oracle.internal_movie, oracle.internal_user
        ),
        "  cold movies' popularity unknown (mean weight)": with_popularity(oracle, unknown_cold),
        "planted movies, taste from the history (the reference)": planted.HistoryTasteOracle(oracle),
        "  and popularity from training counts": planted.HistoryTasteOracle(
            with_popularity(oracle, np.where(cold, mean_weight, np.log(counts + 0.5)))
        ),
        "  and popularity from training counts per year on the catalog": planted.HistoryTasteOracle(
            with_popularity(oracle, np.where(cold, mean_weight, np.log((counts + 0.5) / np.maximum(years, 1 / 12))))
        ),
        "planted factors alone (taste . factor)": PlantedFactors(oracle),
    }


def main(argv: list[str]) -> None:
    del argv
    prepared = prepare(cli.config_from_flags(PrepareConfig))
    data_dir = prepared.figures.get("data_dir")
    if not planted.has_planted_truth(data_dir):
        raise app.UsageError("the release has no planted truth: use a synthetic release (--synthetic=small)")
    oracle = planted.load_oracle(data_dir, prepared.catalog)
    methods = variants(prepared, oracle)
    if Path(FLAGS.model_dir, "weights").exists():
        from pipelines.training.recommender import load

        methods["two-tower model"] = load(FLAGS.model_dir, prepared.figures.get("fingerprint"))
    n, counts = prepared.catalog.num_movies, prepared.train_counts
    rows = {}
    for label, recommender in methods.items():
        rows[label] = {
            window: evaluate(recommender, cases, n, counts, resamples=1000).overall["recall@20"]
            for window, cases in (("validation", prepared.split.val), ("test", prepared.split.test))
        }
    reference = rows["planted movies, taste from the history (the reference)"]
    print("| method | validation recall@20 | test recall@20 | validation / reference |\n|---|---|---|---|")
    for label, row in rows.items():
        cells = [f"{row[w]['mean']:.4f} [{row[w]['low']:.4f}, {row[w]['high']:.4f}]" for w in ("validation", "test")]
        share = row["validation"]["mean"] / reference["validation"]["mean"]
        print(f"| {label} | {cells[0]} | {cells[1]} | {share:.2f} |")
    if FLAGS.out:
        Path(FLAGS.out).write_text(json.dumps({"figures": prepared.figures, "recall@20": rows}, indent=2))


if __name__ == "__main__":
    cli.define_all_flags()
    flags.DEFINE_string("out", None, "Write the figures as JSON here.")
    app.run(main)
