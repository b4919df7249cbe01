"""The evaluator: any recommender, the protocol's cases, full-catalog ranking, metrics and slices.

A recommender maps a batch of query histories to scores over the whole dense movie index. The evaluator
excludes the padding column and each row's history movies, takes the top 100 (ties broken by the lower
movie index), and computes `pipelines.evaluation.metrics` per case. The training loop calls

    evaluate(recommender, split.val, catalog.num_movies, prepared.train_counts)

after each epoch (no bootstrap: a few seconds); `pipelines.evaluate` adds intervals with resamples=1000.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from pipelines.data.split import Cases, Interactions, subset_rows
from pipelines.evaluation import metrics

DEFAULT_BATCH_SIZE = 1024
HISTORY_BUCKETS = ((0, 0), (1, 4), (5, 19), (20, 99), (100, None))  # inclusive query-history lengths


@dataclasses.dataclass(frozen=True)
class Queries:
    """A batch of evaluation queries: each row is one case's query history (CSR, time-ordered)."""

    history: Interactions  # user_ids, offsets [B+1], movies (dense index int32), ratings, timestamps
    query_times: np.ndarray  # [B] int64


class Recommender(Protocol):
    name: str

    def scores(self, queries: Queries) -> np.ndarray:
        """[B, num_movies + 1] float32 scores over the dense movie index; column 0 (padding) is ignored.
        The evaluator excludes history movies itself; a recommender need not (but may) do so.
        The evaluator may overwrite the returned array: return a fresh one (or a read-only view)."""
        ...


def batches(cases: Cases, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[tuple[slice, Queries]]:
    """(case positions, their queries) in consecutive batches of at most batch_size cases."""
    history = cases.history
    for start in range(0, len(cases), batch_size):
        rows = np.arange(start, min(start + batch_size, len(cases)))
        sub = subset_rows(history, rows, history.offsets[rows], history.offsets[rows + 1])
        yield slice(rows[0], rows[-1] + 1), Queries(sub, np.asarray(cases.query_times[rows]))


def mask_history(scores: np.ndarray, history: Interactions) -> np.ndarray:
    """Scores with column 0 and every row's history movies set to -inf (in place when writable).

    Args:
      scores: [B, n + 1] float scores of B queries over the dense movie index.
      history: the B queries' histories.
    """
    scores = np.asarray(scores, np.float32)
    if not scores.flags.writeable or not scores.flags.c_contiguous:
        scores = np.array(scores, np.float32, order="C")  # order="K" would keep a broadcast's odd strides
    if len(history) != len(scores):
        raise ValueError(f"{len(scores)} score rows for {len(history)} queries")
    scores[:, 0] = -np.inf
    scores[np.repeat(np.arange(len(history)), history.lengths), history.movies] = -np.inf
    return scores


def top_k(scores: np.ndarray, k: int = metrics.TOP_K, chunk: int = 256) -> np.ndarray:
    """[B, k] int32 movie indices of the k highest scores per row, best first; equal scores in increasing
    index order; -inf scores never recommended (their slots hold metrics.NO_MOVIE).

    Rows go `chunk` at a time. A per-row threshold at or below the k-th largest score (see `_threshold`)
    keeps a few hundred candidates per row, and only those are sorted: no argpartition over the catalog.
    """
    if len(scores) == 0:
        return np.zeros((0, k), np.int32)
    scores = np.ascontiguousarray(scores)
    return np.concatenate([_top_k(scores[s : s + chunk], k) for s in range(0, len(scores), chunk)])


def _threshold(scores: np.ndarray, k: int, step: int = 16) -> np.ndarray:
    """[B] a value per row with at least k scores >= it (so it is <= the k-th largest).

    On a wide catalog, the m-th largest of every step-th column, m chosen so that about 2k + 8 * step
    scores pass; rows where fewer than k pass get the exact k-th largest (np.partition on values, which is
    several times faster than np.argpartition)."""
    width = scores.shape[1]
    if width < 64 * k:
        return np.partition(scores, width - k, axis=1)[:, width - k]
    sample = scores[:, ::step]
    m = min(sample.shape[1], 2 * k // step + 8)
    threshold = np.partition(sample, sample.shape[1] - m, axis=1)[:, sample.shape[1] - m]
    short = np.count_nonzero(scores >= threshold[:, None], axis=1) < k
    if short.any():
        threshold[short] = np.partition(scores[short], width - k, axis=1)[:, width - k]
    return threshold


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    num_rows, width = scores.shape
    k_part = min(k, width)
    candidate = scores >= _threshold(scores, k_part)[:, None]
    # Rows with very many candidates (ties, e.g. constant scores or fewer than k finite ones) go through a
    # per-row path, so that the candidate arrays stay a few hundred per row.
    crowded = np.flatnonzero(np.count_nonzero(candidate, axis=1) > 16 * k_part)
    candidate[crowded] = False
    rows, cols = np.divmod(np.flatnonzero(candidate), width)  # 1-D flatnonzero: ~9x faster than 2-D nonzero
    values = scores[rows, cols]
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    slot = np.arange(len(rows)) - np.searchsorted(rows, np.arange(num_rows))[rows]
    keep = slot < k_part
    top = np.zeros((num_rows, k), np.int32)
    top_values = np.full((num_rows, k), -np.inf, np.float32)
    top[rows[keep], slot[keep]] = cols[keep]
    top_values[rows[keep], slot[keep]] = values[keep]
    for row in crowded:
        kth = np.partition(scores[row], width - k_part)[width - k_part]
        better = np.flatnonzero(scores[row] > kth)
        better = better[np.lexsort((better, -scores[row, better]))]
        picked = np.concatenate([better, np.flatnonzero(scores[row] == kth)[: k_part - len(better)]])
        top[row, :k_part] = picked
        top_values[row, :k_part] = scores[row, picked]
    top[top_values == -np.inf] = metrics.NO_MOVIE
    return top


def rank(recommender: Recommender, cases: Cases, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """[C, 100] int32 top-100 movies of every case, history movies excluded, best first."""
    top = np.zeros((len(cases), metrics.TOP_K), np.int32)
    for rows, queries in batches(cases, batch_size):
        scores = recommender.scores(queries)
        if np.isnan(scores).any():
            raise ValueError(f"recommender {recommender.name} returned NaN scores")
        top[rows] = top_k(mask_history(scores, queries.history))
    return top


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One recommender on one window.

    Attributes:
      name: the recommender's name.  cases: how many cases.  seconds: wall time of ranking and metrics.
      overall: metric -> {"mean"[, "low", "high"]}, plus the means of coverage@10, popularity_percentile@10
        and cold_movie_share@20 (the share of all top-20 slots taken by movies without a training rating).
      slices: slice name -> {"cases": n, metric -> {...}}: cold_users, users_with_history (by query
        history), cold_movie_targets, warm_movie_targets (targets cut to movies with / without a
        training rating; cases left without a target skipped).
      by_history_length: bucket label ("0", "1-4", ...) -> {"cases": n, metric -> {...}}.
      top: [C, 100] int32 the ranked lists (not written to JSON).
      per_case: metric -> [C] float64 each case's value, in the window's case order (not written to JSON:
        pipelines.evaluation.per_case saves them, for paired comparisons of two methods on the same cases).
    """

    name: str
    cases: int
    seconds: float
    overall: dict
    slices: dict
    by_history_length: dict
    top: np.ndarray = dataclasses.field(repr=False)
    per_case: dict[str, np.ndarray] = dataclasses.field(repr=False, default_factory=dict)

    def means(self) -> dict[str, float]:
        """Flat metric -> mean over all cases (what a training loop logs)."""
        return {name: value["mean"] for name, value in self.overall.items()}

    def to_json(self) -> dict:
        """Every field but `top` and `per_case` (JSON-ready: numbers, strings and nested dicts)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("top", "per_case")}


def _summary(values: dict[str, np.ndarray], rows: np.ndarray, resamples: int, seed: int) -> dict:
    if len(rows) == 0:
        return {"cases": 0}
    return {"cases": len(rows), **metrics.summarize({k: v[rows] for k, v in values.items()}, resamples, seed)}


def evaluate(
    recommender: Recommender,
    cases: Cases,
    num_movies: int,
    train_counts: np.ndarray,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    resamples: int = 0,
    seed: int = 0,
) -> Evaluation:
    """Ranks the full catalog for every case and computes the protocol's metrics and slices.

    Args:
      recommender: scores queries over the dense movie index 0..num_movies.
      cases: one window's cases (split.val or split.test).
      num_movies: catalog size n (movies 1..n).
      train_counts: [n + 1] training ratings per movie (cold movies have 0; popularity percentiles).
      batch_size: cases per scores call (memory: batch_size x (n + 1) float32).
      resamples: bootstrap resamples for the 95% intervals; 0 (the per-epoch fast path) skips them.
      seed: bootstrap seed.
    """
    start = time.perf_counter()
    if len(train_counts) != num_movies + 1:
        raise ValueError(f"train_counts has {len(train_counts)} entries for {num_movies} movies (need n + 1)")
    if len(cases) == 0:
        raise ValueError("no cases to evaluate")
    top = rank(recommender, cases, batch_size)
    offsets, targets = np.asarray(cases.target_offsets), np.asarray(cases.target_movies)
    values = metrics.per_case(metrics.hit_matrix(top, offsets, targets), np.diff(offsets))
    everyone = np.arange(len(cases))
    overall = _summary(values, everyone, resamples, seed)
    del overall["cases"]
    percentiles = metrics.popularity_percentiles(train_counts)
    overall["coverage@10"] = {"mean": metrics.coverage(top, num_movies)}
    overall["popularity_percentile@10"] = {"mean": metrics.mean_popularity_percentile(top, percentiles)}
    warm_movie = np.asarray(train_counts) > 0
    top_20 = top[:, :20]
    recommended = top_20 > 0  # a catalog smaller than 20 + the history leaves padding slots
    overall["cold_movie_share@20"] = {
        "mean": float((recommended & ~warm_movie[top_20]).sum() / max(recommended.sum(), 1))
    }

    cold = cases.cold_users
    slices = {
        "cold_users": _summary(values, np.flatnonzero(cold), resamples, seed),
        "users_with_history": _summary(values, np.flatnonzero(~cold), resamples, seed),
    }
    for name, keep in (("cold_movie_targets", ~warm_movie), ("warm_movie_targets", warm_movie)):
        kept, sub_offsets, sub_targets = metrics.restrict_targets(offsets, targets, keep)
        sub = metrics.per_case(metrics.hit_matrix(top[kept], sub_offsets, sub_targets), np.diff(sub_offsets))
        slices[name] = _summary(sub, np.arange(len(kept)), resamples, seed)

    lengths = cases.history.lengths
    by_length = {}
    for low, high in HISTORY_BUCKETS:
        rows = np.flatnonzero((lengths >= low) & (lengths <= (np.inf if high is None else high)))
        label = f"{low}" if low == high else (f"{low}+" if high is None else f"{low}-{high}")
        by_length[label] = _summary(values, rows, 0, seed)
    return Evaluation(
        name=recommender.name,
        cases=len(cases),
        seconds=time.perf_counter() - start,
        overall=overall,
        slices=slices,
        by_history_length=by_length,
        top=top,
        per_case=values,
    )
