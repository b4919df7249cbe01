"""How each method ranks the movies nobody rated before T_val, beside how much room it gives them:

    python -m benchmarks.cold_ranking --data_dir=ml-latest-small.zip [--methods=new_in_genres,title_knn,popularity]
        [--new_half_life_years=4 --title_weight=0.3 ...] [--model_dirs=DIR,...]

The cold-movie slice's recall@20 mixes two things: how well a method orders the cold movies among
themselves (what its content path knows) and how many of them it lets into the top 20 at all. For every
relevant target that is a cold movie, this ranks it among the cold movies only (history excluded, ties
to the lower index, as the evaluator does) and prints, per window: the cold targets, their median rank
among the cold movies, the share of them in the cold top 20 and top 100, the cold movies' share of the
overall top 20, and the slice's recall@20 from the evaluator.
"""

from __future__ import annotations

import numpy as np
from absl import app, flags

from pipelines import cli
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.data.split import Cases
from pipelines.evaluation.baselines import registry
from pipelines.evaluation.baselines.content import MovieContent
from pipelines.evaluation.evaluator import Recommender, batches, evaluate, mask_history

FLAGS = flags.FLAGS
WINDOWS = ("validation", "test")


def define_flags() -> None:
    flags.DEFINE_list("methods", ["new_in_genres", "title_knn"], "Baselines to score, with their flags' settings.")
    flags.DEFINE_list("model_dirs", [], "Trained models to score as well.")


def cold_target_ranks(method: Recommender, cases: Cases, cold: np.ndarray) -> np.ndarray:
    """0-based rank of every cold relevant target among the cold movies outside its case's history.

    Args:
      cold: [n + 1] bool, the movies without a training rating (False at the padding row).
    """
    ranks = []
    for rows, queries in batches(cases):
        scores = mask_history(method.scores(queries), queries.history)
        scores[:, ~cold] = -np.inf
        for row, case in enumerate(range(rows.start, rows.stop)):
            targets = cases.target_movies[cases.target_offsets[case] : cases.target_offsets[case + 1]]
            targets = targets[cold[targets]]
            if len(targets):
                order = np.argsort(-scores[row], kind="stable")
                position = np.empty(len(order), np.int64)
                position[order] = np.arange(len(order))
                ranks.append(position[targets])
    return np.concatenate(ranks) if ranks else np.zeros(0, np.int64)


@cli.exits_2_on_bad_input
def main(argv: list[str]) -> None:
    prepared = prepare(cli.config_from_flags(PrepareConfig))
    config = cli.config_from_flags(registry.BaselineConfig)
    split, catalog, counts = prepared.split, prepared.catalog, prepared.train_counts
    content = MovieContent.of(catalog)
    methods: list[tuple[str, Recommender]] = []
    for name in registry.parse_names(",".join(FLAGS.methods)):
        method = registry.fit(name, split.train, catalog.num_movies, split.t_val, config, movie_content=content)
        methods.append((name, method))
    if FLAGS.model_dirs:
        from pipelines.training import recommender  # TensorFlow, only when there is a model to score

        for folder in FLAGS.model_dirs:
            methods.append((folder, recommender.load(folder, prepared.figures.get("fingerprint"))))
    cold = np.asarray(counts) == 0
    cold[0] = False
    print(f"{int(cold.sum())} cold movies (no training rating) of {catalog.num_movies}")
    header = "cold targets  median rank among cold  in cold top 20 / 100  cold share of top 20  slice recall@20"
    print(f"{'method':40} {'window':10} {header}")
    for name, method in methods:
        for window in WINDOWS:
            cases = split.val if window == "validation" else split.test
            ranks = cold_target_ranks(method, cases, cold)
            result = evaluate(method, cases, catalog.num_movies, counts)
            share = result.overall["cold_movie_share@20"]["mean"]
            recall = result.slices["cold_movie_targets"].get("recall@20", {"mean": float("nan")})["mean"]
            median = float(np.median(ranks)) + 1 if len(ranks) else float("nan")
            top = f"{np.mean(ranks < 20):.3f} / {np.mean(ranks < 100):.3f}" if len(ranks) else "-"
            print(f"{name[-40:]:40} {window:10} {len(ranks):12d}  {median:22.0f}  {top:>20}  {share:20.3f}"
                  f"  {recall:15.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    define_flags()
    cli.define_all_flags(PrepareConfig, registry.BaselineConfig)
    app.run(main, flags_parser=cli.parse_flags)
