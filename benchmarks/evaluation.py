"""Benchmark: the evaluator on ml-latest-sized cases, against a naive per-case Python loop.

    python -m benchmarks.evaluation [--cases=20000] [--movies=86537] [--naive_cases=300]

Random cases shaped like the full synthetic release's windows (heavy-tailed history lengths, about 11
relevant targets a case) over a catalog of --movies, scored by a popularity recommender with Zipf counts
(scoring is then nearly free, so the time is the evaluator's own: masking, top-100, metrics, slices,
bootstrap). The peer ranks one case at a time with a full stable argsort and computes the metrics in
Python; it runs on --naive_cases cases and is compared per case. Target (issue 3): 20k cases over 86.5k
movies well under 2 minutes on the 2-core development machine.
"""

from __future__ import annotations

import json
import time

import numpy as np
from absl import app, flags

from pipelines.data.split import Cases, Interactions
from pipelines.evaluation import metrics
from pipelines.evaluation.baselines.popularity import Popularity
from pipelines.evaluation.evaluator import Queries, batches, evaluate

FLAGS = flags.FLAGS
TARGET_SECONDS = 120.0


def random_cases(num_cases: int, num_movies: int, counts: np.ndarray, seed: int = 0) -> Cases:
    """Cases with lognormal history lengths (median ~20) and 1-60 targets, movies drawn by popularity."""
    rng = np.random.default_rng(seed)
    lengths = np.minimum(rng.lognormal(3.0, 1.3, num_cases).astype(np.int64), num_movies // 4)
    lengths[rng.random(num_cases) < 0.005] = 0  # a few cold users
    targets = np.minimum(1 + rng.geometric(1 / 11, num_cases), 60)
    p = counts[1:] / counts[1:].sum()
    history, target_movies = [], []
    for h, t in zip(lengths, targets, strict=True):
        picked = 1 + rng.choice(num_movies, size=h + t, replace=False, p=p)
        history.append(picked[:h])
        target_movies.append(picked[h:])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    movies = np.concatenate(history).astype(np.int32)
    hist = Interactions(np.arange(num_cases) + 1, offsets, movies, np.full(len(movies), 4.0, np.float32),
                        np.arange(len(movies), dtype=np.int64))  # fmt: skip
    return Cases(hist, np.full(num_cases, 10**9, np.int64), np.concatenate([[0], np.cumsum(targets)]),
                 np.concatenate(target_movies).astype(np.int32))  # fmt: skip


def naive(recommender: Popularity, cases: Cases, num_cases: int) -> dict[str, float]:
    """Per case: score, mask, full argsort, metrics by Python loops; means over the first num_cases."""
    sums = dict.fromkeys(metrics.METRICS, 0.0)
    for c in range(num_cases):
        movies = cases.history.row(c)[0]
        query = Queries(Interactions(cases.user_ids[c : c + 1], np.array([0, len(movies)]), movies,
                                     np.ones(len(movies), np.float32), np.zeros(len(movies), np.int64)),
                        cases.query_times[c : c + 1])  # fmt: skip
        scores = np.array(recommender.scores(query)[0], np.float64)
        scores[0] = -np.inf
        scores[movies] = -np.inf
        top = np.argsort(-scores, kind="stable")[:100].tolist()
        targets = set(cases.targets(c).tolist())
        for k in metrics.RECALL_KS:
            sums[f"recall@{k}"] += sum(m in targets for m in top[:k]) / min(k, len(targets))
        for k in metrics.NDCG_KS:
            dcg = sum(1 / np.log2(p + 2) for p, m in enumerate(top[:k]) if m in targets)
            sums[f"ndcg@{k}"] += dcg / sum(1 / np.log2(p + 2) for p in range(min(k, len(targets))))
        sums["hit@10"] += float(any(m in targets for m in top[:10]))
        ranks = [p + 1 for p, m in enumerate(top) if m in targets]
        sums["mrr@100"] += 1 / ranks[0] if ranks else 0.0
    return {k: v / num_cases for k, v in sums.items()}


def main(argv: list[str]) -> None:
    del argv
    rng = np.random.default_rng(1)
    counts = np.concatenate([[0], np.round(3e6 * (1 + rng.permutation(FLAGS.movies)) ** -1.0)]).astype(np.int64)
    cases = random_cases(FLAGS.cases, FLAGS.movies, np.maximum(counts, 1))
    recommender = Popularity("popularity", counts)
    start = time.perf_counter()
    evaluate(recommender, cases, FLAGS.movies, counts, resamples=0)
    fast_seconds = time.perf_counter() - start
    start = time.perf_counter()
    full = evaluate(recommender, cases, FLAGS.movies, counts, resamples=1000)
    full_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scoring = sum(recommender.scores(q).shape[0] for _, q in batches(cases))  # the recommender's own share
    scoring_seconds = time.perf_counter() - start
    start = time.perf_counter()
    peer = naive(recommender, cases, FLAGS.naive_cases)
    naive_per_case = (time.perf_counter() - start) / FLAGS.naive_cases
    subset = evaluate(recommender, Cases(*_first(cases, FLAGS.naive_cases)), FLAGS.movies, counts)
    agree = all(abs(subset.overall[m]["mean"] - peer[m]) < 1e-9 for m in metrics.METRICS)
    result = {
        "cases": FLAGS.cases,
        "movies": FLAGS.movies,
        "scored_rows": scoring,
        "scoring_only_seconds": round(scoring_seconds, 2),
        "evaluate_no_bootstrap_seconds": round(fast_seconds, 2),
        "evaluate_bootstrap_1000_seconds": round(full_seconds, 2),
        "naive_seconds_per_case": round(naive_per_case, 5),
        "naive_extrapolated_seconds": round(naive_per_case * FLAGS.cases, 1),
        "speedup_vs_naive": round(naive_per_case * FLAGS.cases / full_seconds, 1),
        "naive_agrees_on_subset": agree,
        "recall@20": round(full.overall["recall@20"]["mean"], 4),
    }
    print(f"evaluate, {FLAGS.cases:,} cases x {FLAGS.movies:,} movies, no bootstrap: {fast_seconds:.1f} s")
    print(f"evaluate, with 1000 bootstrap resamples and slices: {full_seconds:.1f} s "
          f"({'<=' if full_seconds <= TARGET_SECONDS else 'EXCEEDS'} {TARGET_SECONDS:.0f} s)")  # fmt: skip
    print(f"naive per-case loop: {naive_per_case * 1e3:.1f} ms/case -> {naive_per_case * FLAGS.cases:.0f} s "
          f"extrapolated, {result['speedup_vs_naive']}x slower")  # fmt: skip
    print(f"same metrics as the naive loop on its {FLAGS.naive_cases} cases: {agree}")
    print(json.dumps(result))


def _first(cases: Cases, n: int) -> tuple:
    h = cases.history
    end = h.offsets[n]
    history = Interactions(h.user_ids[:n], h.offsets[: n + 1], h.movies[:end], h.ratings[:end], h.timestamps[:end])
    return history, cases.query_times[:n], cases.target_offsets[: n + 1], cases.target_movies[: cases.target_offsets[n]]


if __name__ == "__main__":
    flags.DEFINE_integer("cases", 20_000, "Evaluation cases.")
    flags.DEFINE_integer("movies", 86_537, "Catalog size (ml-latest: 86,537).")
    flags.DEFINE_integer("naive_cases", 300, "Cases the naive per-case loop runs on.")
    app.run(main)
