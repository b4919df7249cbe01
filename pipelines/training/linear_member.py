"""Fitting the linear member (towers.linear_member, --linear_rank) once the towers have trained.

EASE is fitted on the training ratings at every lambda of LAMBDAS (one Gram matrix) and each fit's weights
are factorised to the rank asked by a randomised SVD; then the pair (lambda, the member's weight beside the
towers' score) is chosen on the validation window by the run's monitored metric of the sum, the weights
from SCALES times the number of tower members (a score is the sum of theirs). Weight 0, the towers alone,
is scored once; when nothing beats it the towers serve alone. Ties go to the smaller weight, then the
smaller lambda. The choice may score a seeded sample of the validation cases (`max_cases`,
tuning.subsample). Nothing of the test window is read.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import tf_keras as keras

from pipelines.data.dataset import Prepared
from pipelines.data.split import Cases
from pipelines.evaluation import metrics
from pipelines.evaluation.baselines.linear import EASE
from pipelines.evaluation.baselines.registry import BaselineConfig
from pipelines.evaluation.evaluator import DEFAULT_BATCH_SIZE, batches, mask_history, top_k
from pipelines.evaluation.tuning import ease_path, subsample
from pipelines.training.input import query_features
from pipelines.training.recommender import TowerRecommender
from towers.linear_member import LinearFactors

LAMBDAS = (20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)  # where the EASE baseline's choice fell on real releases
SCALES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # the member's weight, per member of the towers


def low_rank(
    weights: np.ndarray, rank: int, seed: int = 0, oversample: int = 64, power_iterations: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """(L, R), both [m, rank] float32, with L R^T the rank-`rank` truncated SVD of `weights` [m, m]
    (L = U S, R = V), by a randomised range finder with power iterations (Halko, Martinsson & Tropp 2011)."""
    m = weights.shape[0]
    rank = min(rank, m)
    sketch = weights @ np.random.default_rng(seed).standard_normal((m, min(rank + oversample, m))).astype(np.float32)
    for _ in range(power_iterations):
        basis, _ = np.linalg.qr(sketch)
        sketch = weights @ (weights.T @ basis)
    basis, _ = np.linalg.qr(sketch)
    u, s, vt = np.linalg.svd(basis.T @ weights, full_matrices=False)
    return ((basis @ u[:, :rank]) * s[:rank]).astype(np.float32), np.ascontiguousarray(vt[:rank].T, np.float32)


def factorise(ease: EASE, num_movies: int, rank: int, seed: int = 0) -> LinearFactors:
    """EASE's item-item weights cut to `rank` (`low_rank`), indexed by the dense movie index."""
    left, right = low_rank(ease.weights, rank, seed)
    rows = np.zeros(num_movies + 1, np.int32)
    rows[ease.items] = np.arange(1, len(ease.items) + 1)
    pad = np.zeros((1, left.shape[1]), np.float32)
    return LinearFactors(rows, np.concatenate([pad, left]), np.concatenate([pad, right]))


def history_sums(factors: LinearFactors, history_movies: np.ndarray) -> np.ndarray:
    """[B, rank] the member's query vectors: the sum of each history's left factors (history_movies [B, H],
    0 for padding), what towers.linear_member.LinearQuery computes."""
    rows, length = history_movies.shape
    cases, positions = np.repeat(np.arange(rows), length), factors.rows[history_movies].ravel()
    counts = sp.csr_matrix((np.ones(len(cases), np.float32), (cases, positions)), shape=(rows, len(factors.left)))
    return np.asarray(counts @ factors.left, np.float32)


def grid_scores(
    towers: TowerRecommender,
    factors_by_lambda: dict[float, LinearFactors],
    weights: tuple[float, ...],
    cases: Cases,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[tuple[float, float], dict[str, float]]:
    """Every metric (metrics.METRICS, means over `cases`) of towers + weight x member for every (lambda,
    weight) of `factors_by_lambda` x `weights` (a weight of 0 under the first lambda only: the towers alone),
    ranked as the evaluator ranks the served towers (history excluded, the full catalog, ties to the lower
    movie index), up to float32 rounding.

    A member scores only the movies EASE models (the same for every lambda), so each batch ranks the other
    movies once, by the towers alone, and each pair re-ranks only the modelled ones; a pair's top 100 is
    the best 100 of the two lists."""
    if len(cases) == 0:
        raise ValueError("no validation cases to choose the linear member on")
    first = next(iter(factors_by_lambda))
    items = np.concatenate([[metrics.NO_MOVIE], np.flatnonzero(factors_by_lambda[first].rows)])  # by factor row
    for lam, factors in factors_by_lambda.items():
        if not np.array_equal(factors.rows[items[1:]], np.arange(1, len(items))) or len(factors.right) != len(items):
            raise ValueError(f"the member at lambda {lam:g} models other movies than the one at {first:g}")
    pairs = [(lam, w) for lam in factors_by_lambda for w in weights if w > 0 or lam == first]
    values: dict[tuple[float, float], list[dict[str, np.ndarray]]] = {pair: [] for pair in pairs}
    offsets, targets = np.asarray(cases.target_offsets), np.asarray(cases.target_movies)
    for rows, queries in batches(cases, batch_size):
        features = query_features(queries.history, queries.query_times, towers.history_length)
        alone = towers.embed_features(features) @ towers.candidates.T
        if np.isnan(alone).any():
            raise ValueError("the towers returned NaN scores")
        alone = mask_history(alone, queries.history)
        alone_items = alone[:, items]  # column 0: the padding, -inf as masked
        alone[:, items] = -np.inf
        others = top_k(alone)
        others = (others, np.take_along_axis(alone, others, axis=1))
        batch_offsets = offsets[rows.start : rows.stop + 1]
        batch_targets = targets[batch_offsets[0] : batch_offsets[-1]]
        for lam, factors in factors_by_lambda.items():
            member = history_sums(factors, features["history_movies"]) @ factors.right.T  # [B, items]
            if not np.isfinite(member).all():
                raise ValueError(f"non-finite scores from the linear member at lambda {lam:g}")
            for w in weights:
                if (lam, w) not in values:
                    continue
                scores = alone_items + np.float32(w) * member
                best = top_k(scores)
                top = merge_top((items[best], np.take_along_axis(scores, best, axis=1)), others)
                hits = metrics.hit_matrix(top, batch_offsets - batch_offsets[0], batch_targets)
                values[(lam, w)].append(metrics.per_case(hits, np.diff(batch_offsets)))
    return {
        pair: {name: float(np.concatenate([part[name] for part in parts]).mean()) for name in metrics.METRICS}
        for pair, parts in values.items()
    }


def merge_top(*lists: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """[B, TOP_K] the best movies of several (movies [B, k], scores [B, k]) top lists of disjoint movie sets,
    in the evaluator's order (score descending, ties to the lower index; -inf slots are metrics.NO_MOVIE)."""
    movies = np.concatenate([m for m, _ in lists], axis=1)
    scores = np.concatenate([s for _, s in lists], axis=1)
    order = np.lexsort((movies, -scores))[:, : metrics.TOP_K]
    movies, scores = np.take_along_axis(movies, order, axis=1), np.take_along_axis(scores, order, axis=1)
    return np.where(scores == -np.inf, metrics.NO_MOVIE, movies).astype(np.int32)


def choose(scores: dict[tuple[float, float], float]) -> tuple[float, float]:
    """The (lambda, weight) of the highest score; ties to the smaller weight, then the first listed."""
    return max(scores, key=lambda pair: (scores[pair], -pair[1]))


def fit(
    query: keras.Model,
    candidate: keras.Model,
    prepared: Prepared,
    rank: int,
    history_length: int,
    members: int,
    metric: str,
    max_cases: int | None = None,
    seed: int = 0,
) -> tuple[LinearFactors | None, dict]:
    """(the chosen member's factors, already scaled by its weight, or None where the towers serve alone;
    a report of the choice), lambda and weight chosen together on at most `max_cases` validation cases."""
    if metric not in metrics.METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(metrics.METRICS)}")
    start = time.perf_counter()
    split, num_movies, base = prepared.split, prepared.catalog.num_movies, BaselineConfig()
    path = ease_path(split.train, num_movies, LAMBDAS, base.ease_max_items, base.ease_memory_gb)
    factors_by_lambda: dict[float, LinearFactors] = {}
    for lam in LAMBDAS:
        ease = next(path)  # one EASE fit alive at a time
        factors_by_lambda[lam], items = factorise(ease, num_movies, rank, seed), len(ease.items)
        del ease
    cases = subsample(split.val, max_cases, seed)
    towers = TowerRecommender(query, candidate, num_movies, history_length)
    grid = grid_scores(towers, factors_by_lambda, tuple(s * members for s in SCALES), cases)
    scores = {pair: means[metric] for pair, means in grid.items()}
    lam, weight = choose(scores)
    report = {
        "ease_lambda": lam if weight > 0 else None,
        "weight": weight,
        "metric": metric,
        "validation": scores[(lam, weight)],
        "towers_alone": scores.get((LAMBDAS[0], 0.0)),
        "validation_by_lambda": {
            f"{each:g}": {f"{w:g}": value for (at, w), value in scores.items() if at == each and w > 0}
            for each in LAMBDAS
        },
        "validation_cases": len(cases),
        "items": items,
        "rank": factors_by_lambda[LAMBDAS[0]].left.shape[1],
        "fit_seconds": round(time.perf_counter() - start, 1),
    }
    return (factors_by_lambda[lam].scaled(weight) if weight > 0 else None), report
