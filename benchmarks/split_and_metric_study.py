"""BUILD_NOTES sections 1 and 2, measured: what other splits and sampled metrics would have reported.

    python -m benchmarks.split_and_metric_study --flagfile=configs/demo.flags [--baselines=all] [--out=FILE]

1. Split: the same baselines, the same metric code, on the same ratings split three ways:
   - temporal: the protocol (global T_val with fold-in; the validation window's cases);
   - random: every rating independently to train / validation / test with probability 0.8 / 0.1 / 0.1;
   - leave-one-out: each user's last rating (by time) to test, the one before to validation, the rest train.
   For random and leave-one-out a case is a user with a relevant (>= 4) validation rating; its query history
   is all of its training ratings, whatever their time; recent popularity counts the 90 days before the
   last training rating.
2. Metric: on the protocol's validation cases, the sampled "1 relevant among 100 random unrated movies"
   hit@10 / ndcg@10 (one sample per relevant target, uniform negatives outside the history and the case's
   targets, the same negatives for every method; ties to the lower movie index as in the evaluator) next
   to the full-catalog recall@10 / ndcg@10, with the rank of each method under each; item-kNN also with the
   neighbourhood sizes of --knn_variants, to show a tuning decision under either metric.
Prints markdown tables and writes every figure as JSON to --out.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from absl import app, flags

from pipelines import cli
from pipelines.data.features import build_catalog
from pipelines.data.load import load_release
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.data.split import RELEVANT_RATING, Cases, Interactions, group_by_user
from pipelines.evaluation import planted
from pipelines.evaluation.baselines import neighbors
from pipelines.evaluation.baselines import registry as baselines
from pipelines.evaluation.evaluator import batches, evaluate

FLAGS = flags.FLAGS
NEGATIVES = 100


def select(data: Interactions, mask: np.ndarray, rows: np.ndarray) -> Interactions:
    """For each row in rows (ascending), the positions of its ratings where mask holds, in row order."""
    user_of = np.repeat(np.arange(len(data)), data.lengths)
    chosen = np.zeros(len(data), bool)
    chosen[rows] = True
    positions = np.flatnonzero(mask & chosen[user_of])
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(np.bincount(user_of[positions], minlength=len(data))[rows], out=offsets[1:])
    return Interactions(data.user_ids[rows], offsets, data.movies[positions], data.ratings[positions],
                        data.timestamps[positions])  # fmt: skip


def holdout(data: Interactions, fold: np.ndarray) -> tuple[Interactions, Cases]:
    """(training rows, validation cases) of a per-rating assignment fold (0 train, 1 validation, 2 test)."""
    user_of = np.repeat(np.arange(len(data)), data.lengths)
    train_mask = fold == 0
    target = (fold == 1) & (data.ratings >= RELEVANT_RATING)
    rows = np.flatnonzero(np.bincount(user_of[target], minlength=len(data)))
    targets = select(data, target, rows)
    cases = Cases(select(data, train_mask, rows), np.asarray(targets.timestamps[targets.offsets[:-1]]),
                  targets.offsets, targets.movies)  # fmt: skip
    train_rows = np.flatnonzero(np.bincount(user_of[train_mask], minlength=len(data)))
    return select(data, train_mask, train_rows), cases


def random_fold(data: Interactions, seed: int) -> np.ndarray:
    draw = np.random.default_rng(seed).random(len(data.movies))
    return np.where(draw < 0.8, 0, np.where(draw < 0.9, 1, 2)).astype(np.int8)


def leave_one_out_fold(data: Interactions) -> np.ndarray:
    fold = np.zeros(len(data.movies), np.int8)
    enough = data.lengths >= 3
    ends = data.offsets[1:][enough]
    fold[ends - 1], fold[ends - 2] = 2, 1
    return fold


def sampled_metrics(recommender, cases: Cases, num_movies: int, seed: int) -> dict[str, float]:
    """Mean hit@10 and ndcg@10 of each relevant target ranked among NEGATIVES sampled unrated movies."""
    rng = np.random.default_rng(seed)
    hits, gains = [], []
    for rows, queries in batches(cases, 512):
        scores = np.asarray(recommender.scores(queries), np.float32)
        offsets = cases.target_offsets[rows.start : rows.stop + 1]
        targets = np.asarray(cases.target_movies[offsets[0] : offsets[-1]])
        pair_case = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        h = queries.history
        stride = num_movies + 1
        taken = np.concatenate([np.repeat(np.arange(len(h)), h.lengths) * stride + h.movies,
                                pair_case * stride + targets])  # fmt: skip
        negatives = rng.integers(1, num_movies + 1, size=(len(targets), NEGATIVES))
        while True:  # redraw negatives that the case rated (history) or holds as a target
            bad = np.isin(pair_case[:, None] * stride + negatives, taken)
            if not bad.any():
                break
            negatives[bad] = rng.integers(1, num_movies + 1, size=int(bad.sum()))
        target_score = scores[pair_case, targets][:, None]
        negative_score = scores[pair_case[:, None], negatives]
        ahead = (negative_score > target_score) | ((negative_score == target_score) & (negatives < targets[:, None]))
        rank = 1 + ahead.sum(axis=1)
        hits.append(rank <= 10)
        gains.append(np.where(rank <= 10, 1 / np.log2(rank + 1), 0.0))
    return {"sampled_hit@10": float(np.mean(np.concatenate(hits))),
            "sampled_ndcg@10": float(np.mean(np.concatenate(gains)))}  # fmt: skip


def metric_row(recommender, cases: Cases, num_movies: int, counts: np.ndarray, seed: int) -> dict[str, float]:
    """Full-catalog recall@10 and ndcg@10 next to the sampled hit@10 and ndcg@10 of one recommender."""
    full = evaluate(recommender, cases, num_movies, counts).overall
    return {"recall@10": full["recall@10"]["mean"], "ndcg@10": full["ndcg@10"]["mean"],
            **sampled_metrics(recommender, cases, num_movies, seed)}  # fmt: skip


def ranks(values: dict[str, float]) -> dict[str, int]:
    order = sorted(values, key=lambda k: -values[k])
    return {name: order.index(name) + 1 for name in values}


def main(argv: list[str]) -> None:
    del argv
    start = time.perf_counter()
    prepared = prepare(cli.config_from_flags(PrepareConfig))
    names = baselines.parse_names(FLAGS.baselines)
    config = cli.config_from_flags(baselines.BaselineConfig)
    n, split = prepared.catalog.num_movies, prepared.split
    raw = load_release(Path(prepared.figures["data_dir"]))
    data = group_by_user(raw.user_ids, build_catalog(raw).index_of(raw.rating_movie_ids), raw.ratings, raw.timestamps)
    schemes = {"temporal": (split.train, split.val, split.t_val)}
    for scheme, fold in (("random", random_fold(data, FLAGS.eval_seed)), ("leave_one_out", leave_one_out_fold(data))):
        train, cases = holdout(data, fold)
        schemes[scheme] = (train, cases, int(train.timestamps.max()) + 1)
    out: dict = {"figures": prepared.figures, "split": {}, "metric": {}}
    for scheme, (train, cases, t_val) in schemes.items():
        counts = np.bincount(train.movies, minlength=n + 1)
        out["split"][scheme] = {"cases": len(cases), "train_ratings": len(train.movies)}
        for name in names:
            recommender = baselines.fit(name, train, n, t_val, config, seed=FLAGS.eval_seed)
            result = evaluate(recommender, cases, n, counts, resamples=FLAGS.eval_resamples, seed=FLAGS.eval_seed)
            out["split"][scheme][name] = {m: result.overall[m] for m in ("recall@20", "ndcg@10", "recall@100")}
            if scheme == "temporal":
                out["metric"][name] = metric_row(recommender, cases, n, counts, FLAGS.eval_seed)
    for k in FLAGS.knn_variants:  # a tuning decision (the neighbourhood size) under either metric
        variant = neighbors.item_knn(split.train, n, int(k))
        out["metric"][f"item_knn_k{k}"] = metric_row(variant, split.val, n, prepared.train_counts, FLAGS.eval_seed)
    if planted.has_planted_truth(prepared.figures["data_dir"]):
        oracle = planted.load_oracle(prepared.figures["data_dir"], prepared.catalog)
        out["metric"][oracle.name] = metric_row(oracle, split.val, n, prepared.train_counts, FLAGS.eval_seed)
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(split_table(out) + "\n\n" + metric_table(out["metric"]))
    Path(FLAGS.out).write_text(json.dumps(out, indent=1))


def split_table(out: dict) -> str:
    schemes = list(out["split"])
    lines = ["| baseline | " + " | ".join(f"{s} recall@20" for s in schemes) + " | random / temporal | "
             "leave-one-out / temporal |", "|---|" + "---|" * (len(schemes) + 2)]  # fmt: skip
    for name in (k for k in out["split"]["temporal"] if k not in ("cases", "train_ratings")):
        values = [out["split"][s][name]["recall@20"] for s in schemes]
        cells = [f"{v['mean']:.4f} [{v.get('low', v['mean']):.4f}, {v.get('high', v['mean']):.4f}]" for v in values]
        ratios = [f"{v['mean'] / values[0]['mean']:.2f}x" for v in values[1:]]
        lines.append(f"| {name} | " + " | ".join(cells + ratios) + " |")
    lines.append("| cases | " + " | ".join(f"{out['split'][s]['cases']:,}" for s in schemes) + " | | |")
    return "\n".join(lines)


def metric_table(metric: dict) -> str:
    columns = ("recall@10", "ndcg@10", "sampled_hit@10", "sampled_ndcg@10")
    order = {c: ranks({k: v[c] for k, v in metric.items()}) for c in columns}
    lines = ["| method | " + " | ".join(f"{c} (rank)" for c in columns) + " |", "|---|" + "---|" * len(columns)]
    for name, values in metric.items():
        lines.append(f"| {name} | " + " | ".join(f"{values[c]:.4f} ({order[c][name]})" for c in columns) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    cli.define_all_flags()
    flags.DEFINE_string("out", "split_and_metric_study.json", "Where the figures go (JSON).")
    flags.DEFINE_list("knn_variants", ["20", "100"], "Extra item-kNN neighbourhood sizes in the metric table.")
    app.run(main)
