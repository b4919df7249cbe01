"""Fitting the linear member (towers.linear_member, --linear_rank) once the towers have trained.

EASE is fitted on the training ratings with its lambda chosen on the validation window by recall@20, as
the EASE baseline's is (pipelines.evaluation.tuning, over LAMBDAS); its weights are factorised to the rank
asked by a randomised SVD; then the member's weight beside the towers' score is chosen on the validation
window by the run's monitored metric, from SCALES times the number of tower members (a score is the sum of
theirs). A weight of 0 chosen means no member: the towers serve alone. Both choices may score a seeded sample
of the validation cases (`max_cases`, tuning.subsample). Nothing of the test window is read.
"""

from __future__ import annotations

import time

import numpy as np
import tf_keras as keras

from pipelines.data.dataset import Prepared
from pipelines.evaluation.baselines.registry import BaselineConfig
from pipelines.evaluation.evaluator import Queries, evaluate
from pipelines.evaluation.tuning import subsample, tune
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


def fit_factors(
    prepared: Prepared, rank: int, seed: int = 0, max_cases: int | None = None
) -> tuple[LinearFactors, dict]:
    """EASE on the training ratings, lambda chosen on (at most `max_cases` of) the validation cases,
    factorised to `rank`; (factors, report)."""
    start = time.perf_counter()
    split, num_movies = prepared.split, prepared.catalog.num_movies
    tuned = tune(
        "ease", split.train, split.val, num_movies, split.t_val, prepared.train_counts, BaselineConfig(),
        points=[{"ease_lambda": lam} for lam in LAMBDAS], max_cases=max_cases, seed=seed,
    )  # fmt: skip
    ease = tuned.recommender
    left, right = low_rank(ease.weights, rank, seed)
    rows = np.zeros(num_movies + 1, np.int32)
    rows[ease.items] = np.arange(1, len(ease.items) + 1)
    pad = np.zeros((1, left.shape[1]), np.float32)
    factors = LinearFactors(rows, np.concatenate([pad, left]), np.concatenate([pad, right]))
    report = {
        "ease_lambda": tuned.chosen["ease_lambda"],
        "ease_validation_recall@20": tuned.validation["recall@20"],
        "validation_cases": tuned.cases,
        "items": len(ease.items),
        "rank": left.shape[1],
        "fit_seconds": round(time.perf_counter() - start, 1),
    }
    return factors, report


class _Weighted:
    """The towers' score plus `scale` x the member's, from one recommender of the unscaled towers."""

    name = "two-tower"

    def __init__(self, recommender: TowerRecommender, rank: int, scale: float) -> None:
        self.recommender, self.rank, self.scale = recommender, rank, scale

    def scores(self, queries: Queries) -> np.ndarray:
        embedded = self.recommender.embed(queries)
        embedded[:, -self.rank :] *= self.scale
        return embedded @ self.recommender.candidates.T


def choose_scale(
    query: keras.Model,
    candidate: keras.Model,
    factors: LinearFactors,
    prepared: Prepared,
    history_length: int,
    members: int,
    metric: str,
    max_cases: int | None = None,
    seed: int = 0,
) -> tuple[float, dict[str, float]]:
    """(the member's weight with the best validation `metric`, the first of ties; every weight's score),
    scored on at most `max_cases` validation cases (the sample `fit_factors` draws with the same seed)."""
    num_movies = prepared.catalog.num_movies
    cases = subsample(prepared.split.val, max_cases, seed)
    recommender = TowerRecommender(*factors.towers(query, candidate), num_movies, history_length)
    scores = {}
    for scale in (s * members for s in SCALES):
        result = evaluate(_Weighted(recommender, factors.left.shape[1], scale), cases, num_movies,
                          prepared.train_counts)  # fmt: skip
        scores[scale] = float(result.means()[metric])
    best = max(scores, key=lambda s: (scores[s], -s))
    return best, {f"{s:g}": v for s, v in scores.items()}
