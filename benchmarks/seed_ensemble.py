"""What several independently trained seeds of the model reach together, beside each alone:

    python -m benchmarks.seed_ensemble --data_dir=ml-latest-small.zip --release=ml-latest-small
        --model_dirs=DIR,DIR,...

The ensemble scores a movie by the sum of the members' scores. A member's score is its query embedding
. candidate embedding, so the sum is the dot product of the members' embeddings concatenated: one
two-tower model of (members x dimension) dimensions, which one SavedModel and one ScaNN index could
serve. Each member and the ensemble are scored on the validation and the test window: recall@20,
ndcg@100, recall@20 on the cold-movie targets and the cold movies' share of the top-20. Training cost:
the members' trainings together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from absl import app, flags

from pipelines import cli
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.evaluation.evaluator import Evaluation, Queries, Recommender, evaluate

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_list("model_dirs", [], "Two or more trained models (e.g. the seeds of benchmarks.real_data).")
    flags.register_validator("model_dirs", lambda dirs: len(dirs) >= 2, "--model_dirs needs two or more models")


class Ensemble:
    """Scores = the sum of the members' scores (for two-tower members: their embeddings concatenated)."""

    def __init__(self, members: Sequence[Recommender]) -> None:
        self.name = f"ensemble of {len(members)}"
        self.members = list(members)

    def scores(self, queries: Queries) -> np.ndarray:
        total = np.asarray(self.members[0].scores(queries), np.float64)
        for member in self.members[1:]:
            total = total + member.scores(queries)
        return total.astype(np.float32)


def row(name: str, windows: dict[str, Evaluation]) -> str:
    """One line: recall@20, ndcg@100, cold-movie targets' recall@20 and cold share per window."""
    cells = []
    for window, result in windows.items():
        cold = result.slices.get("cold_movie_targets", {}).get("recall@20", {}).get("mean", float("nan"))
        overall = result.overall
        cells.append(f"{window} {overall['recall@20']['mean']:.4f} {overall['ndcg@100']['mean']:.4f} "
                     f"{cold:.3f} {overall['cold_movie_share@20']['mean']:.3f}")  # fmt: skip
    return f"{name:<40} " + " | ".join(cells)


@cli.exits_2_on_bad_input
def main(argv: list[str]) -> None:
    del argv
    from pipelines.training import recommender  # TensorFlow, after the flags are checked

    prepared = prepare(cli.config_from_flags(PrepareConfig))
    split, num_movies, counts = prepared.split, prepared.catalog.num_movies, prepared.train_counts
    windows = {"validation": split.val, "test": split.test}
    members = [recommender.load(folder, prepared.figures.get("fingerprint")) for folder in FLAGS.model_dirs]
    print(f"{'method':<40} window recall@20 ndcg@100 cold-movie-recall@20 cold-share@20 (each window)")
    for name, method in [*zip(FLAGS.model_dirs, members, strict=True), ("ensemble", Ensemble(members))]:
        results = {w: evaluate(method, cases, num_movies, counts) for w, cases in windows.items()}
        print(row(name, results), flush=True)


if __name__ == "__main__":
    define_flags()
    cli.define_all_flags(PrepareConfig)
    app.run(main, flags_parser=cli.parse_flags)
