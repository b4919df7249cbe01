"""How much of the query history each method uses: the same cases, the history cut to its last N ratings.

    python -m benchmarks.history_length --data_dir=ml-latest-small.zip [--lengths=20,50,0]
        [--methods=ease,ials] [--ease_lambda=50 --ials_regularization=0.01 ...] [--model_dirs=DIR,...]

Scores the named baselines (with the settings given, e.g. the ones `pipelines.evaluate` chose on the
validation window) and trained models on both windows, each method scoring from the most recent N ratings
of every query history (0 = all of it; the whole history still leaves the ranking, as always), and prints
recall@20 and ndcg@100 per length. A model always reads at
most its own `history_length`; cutting shorter shows how much of that it uses. The targets and the
training data are the protocol's, unchanged.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from absl import app, flags

from pipelines import cli
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.data.split import Interactions, subset_rows
from pipelines.evaluation.baselines import registry
from pipelines.evaluation.evaluator import Queries, Recommender, evaluate

FLAGS = flags.FLAGS
WINDOWS = ("validation", "test")


def define_flags() -> None:
    flags.DEFINE_list("lengths", ["20", "50", "0"], "History lengths to cut to (0 = the whole history).")
    flags.DEFINE_list("methods", ["ease", "ials"], "Baselines to score, with the settings of their flags.")
    flags.DEFINE_list("model_dirs", [], "Trained models to score as well.")


def last_ratings(history: Interactions, length: int) -> Interactions:
    """Each row cut to its `length` most recent ratings (0: unchanged)."""
    if length <= 0:
        return history
    ends = np.asarray(history.offsets[1:])
    starts = np.maximum(np.asarray(history.offsets[:-1]), ends - length)
    return subset_rows(history, np.arange(len(ends)), starts, ends)


@dataclasses.dataclass(frozen=True)
class CutHistory:
    """A recommender that scores from the last `length` ratings of each query history. The evaluator still
    leaves the whole history out of the ranking, as for every method."""

    method: Recommender
    length: int

    @property
    def name(self) -> str:
        return self.method.name

    def scores(self, queries: Queries) -> np.ndarray:
        return self.method.scores(Queries(last_ratings(queries.history, self.length), queries.query_times))


def main(argv: list[str]) -> None:
    prepared = prepare(cli.config_from_flags(PrepareConfig))
    config = cli.config_from_flags(registry.BaselineConfig)
    split, num_movies, counts = prepared.split, prepared.catalog.num_movies, prepared.train_counts
    methods: list[tuple[str, Recommender]] = []
    for name in registry.parse_names(",".join(FLAGS.methods)):
        methods.append((name, registry.fit(name, split.train, num_movies, split.t_val, config)))
    if FLAGS.model_dirs:
        from pipelines.training import recommender  # TensorFlow, only when there is a model to score

        for folder in FLAGS.model_dirs:
            methods.append((folder, recommender.load(folder, prepared.figures.get("fingerprint"))))
    lengths = [int(x) for x in FLAGS.lengths]
    print("recall@20 / ndcg@100, history cut to its last N ratings (all = the whole history):")
    print(f"{'method':40} {'N':>5} " + " ".join(f"{w:>17}" for w in WINDOWS))
    for name, method in methods:
        for length in lengths:
            cells = []
            for window in WINDOWS:
                cases = split.val if window == "validation" else split.test
                overall = evaluate(CutHistory(method, length), cases, num_movies, counts).overall
                cells.append(f"{overall['recall@20']['mean']:.4f} / {overall['ndcg@100']['mean']:.4f}")
            print(f"{name[-40:]:40} {length or 'all':>5} " + " ".join(f"{c:>17}" for c in cells), flush=True)


if __name__ == "__main__":
    define_flags()
    cli.define_all_flags(PrepareConfig, registry.BaselineConfig)
    app.run(main, flags_parser=cli.parse_flags)
