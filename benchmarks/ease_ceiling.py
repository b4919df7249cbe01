"""Where the tuned EASE's lead comes from, and how far a mix of it with the model would go:

    python -m benchmarks.ease_ceiling --data_dir=ml-latest-small.zip --release=ml-latest-small
        --model_dirs=DIR,... [--ranks=32,64,128,256,512] [--weights=0,0.2,...,1]

Three things, each on the validation and the test window:

- **EASE** with its lambda tuned on the validation window by recall@20 (the grid of benchmarks.real_data).
- **EASE at rank k**: its item-item weights B cut to their top k singular values, B ~ (U_k S_k) V_k^T. A
  history's score, x B ~ (x U_k S_k) . V_k, is then a linear two-tower model of dimension k: this row
  says how much of EASE's lead is the rank that a k-dimensional embedding cannot hold.
- **EASE + the model**: each trained model's scores mixed with EASE's (or, with --mix_rank=k, with those
  of EASE at rank k: the mix a single index could serve), every row of each standardised
  over the movies both score, (1 - w) EASE + w model. The weight is chosen on the validation window
  (ties: the smaller) and scores the test window once; the validation figure at that weight is chosen
  in hindsight, so it is an upper bound of the mix, not a result.
- With --rerank_depth=N, the mix as a **second stage**: it re-orders only the model's own top N (what
  the index returns), the rest stay below in the model's order. Weight 0 is EASE re-ranking the top N.
"""

from __future__ import annotations

import numpy as np
from absl import app, flags

from pipelines import cli
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.data.split import Interactions
from pipelines.evaluation import tuning
from pipelines.evaluation.baselines import linear, registry
from pipelines.evaluation.baselines.common import BELOW_EVERY_SCORE
from pipelines.evaluation.evaluator import Queries, Recommender, evaluate, mask_history
from pipelines.training.linear_member import low_rank

FLAGS = flags.FLAGS
METRICS = ("recall@20", "ndcg@100")


def define_flags() -> None:
    flags.DEFINE_list("model_dirs", [], "Trained models to mix with EASE (e.g. the seeds of benchmarks.real_data).")
    flags.DEFINE_list("ranks", ["32", "64", "128", "256", "512"], "Ranks of the truncated EASE.")
    flags.DEFINE_list("weights", ["0", "0.2", "0.35", "0.5", "0.65", "0.8", "1"], "The model's weights in the mix.")
    flags.DEFINE_integer("mix_rank", 0, "Mix the model with EASE at this rank (0: the full EASE).", lower_bound=0)
    flags.DEFINE_integer("rerank_depth", 0, "Let the mix re-order only the model's top N (0: every movie).",
                         lower_bound=0)  # fmt: skip
    flags.register_validator("ranks", lambda ranks: all(r.isdigit() and int(r) > 0 for r in ranks),
                             "--ranks must be positive integers")  # fmt: skip
    flags.register_validator("weights", lambda weights: all(is_weight(w) for w in weights),
                             "--weights must be numbers from 0 to 1")  # fmt: skip


def is_weight(text: str) -> bool:
    """Whether `text` is a number from 0 to 1."""
    try:
        return 0.0 <= float(text) <= 1.0
    except ValueError:
        return False


def truncated_factors(weights: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(U_k S_k [m, k], V_k^T [k, m]) of the top `rank` singular values of a square weight matrix, largest
    first: the linear member's factorisation (pipelines.training.linear_member.low_rank)."""
    left, right = low_rank(np.asarray(weights, np.float32), rank)
    return left, np.ascontiguousarray(right.T)


def truncated_ease(model: linear.EASE, factors: tuple[np.ndarray, np.ndarray], rank: int) -> linear.EASE:
    """The same EASE (items, counts, cold users) with its weights replaced by their rank-`rank` product."""
    left, right = factors
    truncated = linear.EASE(model.items, left[:, :rank] @ right[:rank], model.counts)
    truncated.name = f"ease rank {rank}"
    return truncated


def standardised(scores: np.ndarray, history: Interactions) -> np.ndarray:
    """[B, n + 1] float32 scores minus each row's mean over the movies it scores, over their standard
    deviation. The padding column, the history and the movies a method does not cover (BELOW_EVERY_SCORE)
    are left out of the mean and come out -inf and BELOW_EVERY_SCORE as they went in."""
    scores = mask_history(np.array(scores, np.float64), history)
    scored = np.isfinite(scores) & (scores > BELOW_EVERY_SCORE / 2)
    values = np.where(scored, scores, 0.0)
    count = np.maximum(scored.sum(axis=1, keepdims=True), 1)
    mean = values.sum(axis=1, keepdims=True) / count
    deviation = np.sqrt((np.where(scored, values - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / count)
    out = np.where(scored, (scores - mean) / np.maximum(deviation, 1e-12), scores)
    return out.astype(np.float32)


class Mix:
    """(1 - weight) standardised scores of `first` + weight standardised scores of `second`."""

    def __init__(self, first: Recommender, second: Recommender, weight: float) -> None:
        self.name = f"{first.name} + {second.name} (w {weight:g})"
        self.first, self.second, self.weight = first, second, weight

    def scores(self, queries: Queries) -> np.ndarray:
        first = standardised(self.first.scores(queries), queries.history)
        second = standardised(self.second.scores(queries), queries.history)
        excluded = ~(np.isfinite(first) & np.isfinite(second))  # history and padding (0 x -inf would be nan)
        below = BELOW_EVERY_SCORE / 2  # a movie a method does not cover goes last, unless its weight is 0
        uncovered = ~excluded & (((first <= below) & (self.weight < 1)) | ((second <= below) & (self.weight > 0)))
        mixed = (1.0 - self.weight) * np.where(excluded, 0.0, first) + self.weight * np.where(excluded, 0.0, second)
        mixed[uncovered] = BELOW_EVERY_SCORE
        mixed[excluded] = -np.inf
        return mixed


class Rerank:
    """`second_stage`'s order over the top `depth` movies of `first_stage`; every other movie below them,
    in `first_stage`'s order (the history and the padding stay -inf)."""

    def __init__(self, first_stage: Recommender, second_stage: Recommender, depth: int) -> None:
        self.name = f"{second_stage.name} over the top {depth} of {first_stage.name}"
        self.first_stage, self.second_stage, self.depth = first_stage, second_stage, depth

    def scores(self, queries: Queries) -> np.ndarray:
        first = mask_history(self.first_stage.scores(queries), queries.history)
        second = mask_history(self.second_stage.scores(queries), queries.history)
        depth = min(self.depth, first.shape[1] - 1)
        rows = np.arange(len(first))[:, None]
        top = np.argpartition(-first, depth - 1, axis=1)[:, :depth]
        top = top[rows, np.argsort(-second[rows, top], axis=1, kind="stable")]  # in the second stage's order
        out = np.argsort(np.argsort(-first, axis=1, kind="stable"), axis=1).astype(np.float32)  # first's ranks
        out = -out - depth  # the rest, in the first stage's order, below every re-ranked movie
        out[rows, top] = -np.arange(depth, dtype=np.float32)
        out[~np.isfinite(first)] = -np.inf
        return out


def chosen_weight(validation: dict[float, float]) -> float:
    """The weight of the best validation figure; ties go to the smaller weight (less of the model)."""
    return max(sorted(validation), key=lambda w: (validation[w], -w))


@cli.exits_2_on_bad_input
def main(argv: list[str]) -> None:
    del argv
    prepared = prepare(cli.config_from_flags(PrepareConfig))
    split, num_movies, counts = prepared.split, prepared.catalog.num_movies, prepared.train_counts
    windows = {"validation": split.val, "test": split.test}

    def figures(method: Recommender) -> dict[str, dict[str, float]]:
        return {w: evaluate(method, cases, num_movies, counts).means() for w, cases in windows.items()}

    def line(name: str, result: dict[str, dict[str, float]]) -> str:
        cells = "  ".join(f"{result[w][m]:>{len(w) + len(m) + 1}.4f}" for w in windows for m in METRICS)
        return f"{name:<44} {cells}"

    header = "  ".join(f"{w} {m}" for w in windows for m in METRICS)
    tuned = tuning.tune("ease", split.train, split.val, num_movies, split.t_val, counts,
                        cli.config_from_flags(registry.BaselineConfig))  # fmt: skip
    ease = tuned.recommender
    print(f"EASE tuned on validation: {tuned.chosen}")
    print(f"{'method':<44} {header}")
    print(line("ease", figures(ease)), flush=True)
    ranks = [r for r in sorted(int(r) for r in FLAGS.ranks) if r <= len(ease.items)]
    top = min(max([*ranks, FLAGS.mix_rank]), len(ease.items))
    factors = truncated_factors(ease.weights, top) if top else None
    for rank in ranks:
        print(line(f"ease rank {rank}", figures(truncated_ease(ease, factors, rank))), flush=True)
    if not FLAGS.model_dirs:
        return
    from pipelines.training import recommender  # TensorFlow, only when there is a model to mix

    weights = [float(w) for w in FLAGS.weights]
    if FLAGS.mix_rank:
        ease = truncated_ease(ease, factors, top)
    for folder in FLAGS.model_dirs:
        model = recommender.load(folder, prepared.figures.get("fingerprint"))

        def mixed(weight: float, model: Recommender = model) -> Recommender:
            mix = Mix(ease, model, weight)
            return Rerank(model, mix, FLAGS.rerank_depth) if FLAGS.rerank_depth else mix

        validation = {w: evaluate(mixed(w), split.val, num_movies, counts).means() for w in weights}
        best = chosen_weight({w: validation[w]["recall@20"] for w in weights})
        test = evaluate(mixed(best), split.test, num_movies, counts).means()
        stage = f" over its top {FLAGS.rerank_depth}" if FLAGS.rerank_depth else ""
        print(folder)
        print(line("  the model alone", figures(model)))
        print(line(f"  + {ease.name}{stage}, w {best:g} chosen on validation",
                   {"validation": validation[best], "test": test}))  # fmt: skip
        print("  validation recall@20 by weight: " + ", ".join(f"{w:g} {validation[w]['recall@20']:.4f}"
                                                            for w in weights), flush=True)  # fmt: skip


if __name__ == "__main__":
    define_flags()
    cli.define_all_flags(PrepareConfig, registry.BaselineConfig)
    app.run(main, flags_parser=cli.parse_flags)
