"""Validation-window tuning of the baselines: every point of a stated grid scored on the validation cases.

Each baseline's hyper-parameters are chosen on the validation window [T_val, T_test) only; the test window
is never passed in (`tune` takes the validation cases and nothing else of the split), so the caller scores
the test window once, afterwards, with the chosen settings. A typical run:

    data = ValidationData.from_prepared(prepared)  # reads prepared.split.val, never .test
    tuned = tune_all(registry.NAMES, data, BaselineConfig())
    for name, result in tuned.items():
        evaluate(result.recommender, prepared.split.test, ...)  # once, after choosing

The grids (module constants, keys are `BaselineConfig` fields):

  popularity         no hyper-parameter: one point.
  recent_popularity  recent_days in RECENT_DAYS = 7, 30, 90, 180, 365.
  item_knn           knn_neighbors in KNN_NEIGHBORS = 20, 50, 100, 200, 500 (no shrinkage: the family has
                     none). The cosine neighbours are computed once at the largest count; each smaller count
                     keeps every item's strongest neighbours of that list (ties to the lower movie index).
  ease               ease_lambda in EASE_LAMBDAS = 10, 20, 50, ..., 10000 (a 1-2-5 log grid). The Gram matrix
                     is computed once; each lambda costs one Cholesky inversion (LAPACK potrf + potri).
  ials               ials_factors x ials_regularization x ials_alpha x ials_iterations in IALS_FACTORS =
                     32, 64, 128, IALS_REGULARIZATIONS = 0.01, 0.1, 1, 10, IALS_ALPHAS = 1, 5 and
                     IALS_ITERATIONS = 15 (24 fits; iterations not searched, to stay within the budget).
  new_in_genres      new_half_life_years in NEW_HALF_LIVES = 0.5, 1, 2, 4.
  title_knn          title_weight x new_half_life_years in TITLE_WEIGHTS = 0.1, 0.3, 1, 3 and NEW_HALF_LIVES.

Why Cholesky rather than one eigendecomposition for EASE: on 10,000 items on 2 cores, G + lambda I is
inverted in 12.5 s by potrf + potri (np.linalg.inv, as `linear.ease` does: 36 s), while the eigendecomposition
G = V diag(w) V^T takes 129 s (scipy eigh, driver evd; evr: 185 s) before its cheap per-lambda scoring, and
needs 3 dense matrices at once; with 10 lambdas the two are even and the inversion is simpler and exact.

Budget, measured on 2 cores: ml-25m-u2686 (2,307 training users, 64,102 movies, 10,000 EASE items of 12,679
rated, 273 validation cases) tunes every baseline in 4.7 minutes (EASE 204 s, item-kNN 44 s, iALS 31 s,
popularity and recent popularity 1 s); ml-latest-small (7,867 EASE items, 62 cases) in 1.5 minutes (EASE 77 s).
Such small validation windows make the choice noisy (one case moves recall@20 by up to 1/62). A release with
tens of thousands of validation cases can cap the scored cases with `max_cases` (a uniform sample without
replacement, fixed by `seed`); the default scores them all.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from absl import logging

from pipelines.data.errors import DataError
from pipelines.data.split import Cases, Interactions, ranges, subset_rows
from pipelines.evaluation import metrics
from pipelines.evaluation.baselines import linear, neighbors, registry
from pipelines.evaluation.baselines.common import binary_matrix
from pipelines.evaluation.baselines.content import MovieContent
from pipelines.evaluation.baselines.registry import BaselineConfig
from pipelines.evaluation.evaluator import DEFAULT_BATCH_SIZE, Recommender, evaluate

if TYPE_CHECKING:
    from pipelines.data.dataset import Prepared

RECENT_DAYS = (7, 30, 90, 180, 365)
KNN_NEIGHBORS = (20, 50, 100, 200, 500)
NEW_HALF_LIVES = (0.5, 1.0, 2.0, 4.0)
TITLE_WEIGHTS = (0.1, 0.3, 1.0, 3.0)
EASE_LAMBDAS = (10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0)
IALS_FACTORS = (32, 64, 128)
IALS_REGULARIZATIONS = (0.01, 0.1, 1.0, 10.0)
IALS_ALPHAS = (1.0, 5.0)
IALS_ITERATIONS = (15,)

GRIDS: dict[str, tuple[dict[str, Any], ...]] = {
    "popularity": ({},),
    "recent_popularity": tuple({"recent_days": d} for d in RECENT_DAYS),
    "item_knn": tuple({"knn_neighbors": k} for k in KNN_NEIGHBORS),
    "ease": tuple({"ease_lambda": lam} for lam in EASE_LAMBDAS),
    "ials": tuple(
        {"ials_factors": f, "ials_regularization": r, "ials_alpha": a, "ials_iterations": i}
        for f in IALS_FACTORS
        for r in IALS_REGULARIZATIONS
        for a in IALS_ALPHAS
        for i in IALS_ITERATIONS
    ),
    "new_in_genres": tuple({"new_half_life_years": h} for h in NEW_HALF_LIVES),
    "title_knn": tuple({"title_weight": w, "new_half_life_years": h} for w in TITLE_WEIGHTS for h in NEW_HALF_LIVES),
}
"""Baseline name -> its grid points (BaselineConfig field -> value), in the order they are scored."""


@dataclasses.dataclass(frozen=True)
class Tuned:
    """One baseline tuned on the validation window.

    Attributes:
      name: the baseline.  metric: what was maximised (a `metrics.METRICS` name, e.g. recall@20).
      grid: the grid points (BaselineConfig field -> value), in scoring order.
      scores: the validation metric of each grid point.
      chosen: the first grid point with the highest score.  config: `base` with `chosen` applied.
      validation: every validation metric mean of the chosen point.
      seconds: wall time of fitting and scoring the whole grid.  cases: validation cases scored.
      recommender: the chosen point fitted on the training ratings (not written to JSON), ready to score
        the test window once.
    """

    name: str
    metric: str
    grid: list[dict[str, Any]]
    scores: list[float]
    chosen: dict[str, Any]
    config: BaselineConfig
    validation: dict[str, float]
    seconds: float
    cases: int
    recommender: Recommender | None = dataclasses.field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        """The grid, every grid point's validation score and the choice (JSON-ready, for metrics.json)."""
        return {
            "name": self.name,
            "metric": self.metric,
            "grid": [dict(point) for point in self.grid],
            "scores": list(self.scores),
            "chosen": dict(self.chosen),
            "config": dataclasses.asdict(self.config),
            "validation": dict(self.validation),
            "seconds": self.seconds,
            "cases": self.cases,
        }


@dataclasses.dataclass(frozen=True)
class ValidationData:
    """What tuning may see of a prepared release: the training ratings and the validation cases.

    Attributes:
      train: training ratings (before T_val).  cases: the validation window's cases.
      num_movies: catalog size n.  t_val: start of the validation window.
      train_counts: [n + 1] training ratings per movie.
      movie_content: the catalog's genres and years (the content baseline), when known.
    """

    train: Interactions
    cases: Cases
    num_movies: int
    t_val: int
    train_counts: np.ndarray
    movie_content: MovieContent | None = None

    @classmethod
    def from_prepared(cls, prepared: Prepared) -> ValidationData:
        """The validation part of a `Prepared` (its split's train and val; the test window is not read)."""
        split = prepared.split
        content = MovieContent.of(prepared.catalog)
        return cls(split.train, split.val, prepared.catalog.num_movies, split.t_val, prepared.train_counts, content)


def grid(name: str) -> list[dict[str, Any]]:
    """A baseline's default grid (fresh dicts)."""
    if name not in GRIDS:
        raise DataError(f"unknown baseline {name!r}; known: {', '.join(registry.NAMES)}")
    return [dict(point) for point in GRIDS[name]]


def subsample(cases: Cases, max_cases: int | None, seed: int = 0) -> Cases:
    """At most max_cases of the cases, drawn uniformly without replacement (fixed by seed), in their order.

    Args:
      cases: one window's cases.
      max_cases: how many to keep; None (or at least len(cases)) keeps them all.
      seed: the draw's seed.
    """
    if max_cases is None or max_cases >= len(cases):
        return cases
    if max_cases < 1:
        raise ValueError(f"max_cases must be positive, got {max_cases}")
    rows = np.sort(np.random.default_rng(seed).choice(len(cases), size=max_cases, replace=False))
    history = cases.history
    starts, ends = np.asarray(cases.target_offsets)[rows], np.asarray(cases.target_offsets)[rows + 1]
    target_offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(ends - starts, out=target_offsets[1:])
    return Cases(
        history=subset_rows(history, rows, history.offsets[rows], history.offsets[rows + 1]),
        query_times=np.asarray(cases.query_times)[rows],
        target_offsets=target_offsets,
        target_movies=np.asarray(cases.target_movies)[ranges(starts, ends)],
    )


def ease_path(
    train: Interactions, num_movies: int, lambdas: Sequence[float], max_items: int, memory_gb: float
) -> Iterator[linear.EASE]:
    """One `linear.EASE` per lambda (the same model `linear.ease` fits), the Gram matrix computed once.

    Raises:
      ValueError: over the memory guard of linear.ease (before any work).
    """
    items, counts = linear.ease_items(train, num_movies, max_items, memory_gb)
    gram_matrix = linear.ease_gram(train, num_movies, items)
    for lam in lambdas:
        yield linear.EASE(items, linear.ease_weights(gram_matrix, lam), counts)


def rank_neighbours(similarity: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, values, rank): a neighbour matrix's entries, each row's strongest first (ties to the lower
    column), with each entry's 0-based rank within its row."""
    coo = similarity.tocoo()
    order = np.lexsort((coo.col, -coo.data, coo.row))
    rows, cols, values = coo.row[order], coo.col[order], coo.data[order]
    starts = np.searchsorted(rows, np.arange(similarity.shape[0]))
    return rows, cols, values, np.arange(len(rows)) - starts[rows]


def truncate_neighbours(ranked: tuple[np.ndarray, ...], shape: tuple[int, int], neighbours: int) -> sp.csr_matrix:
    """The `rank_neighbours` entries of rank below `neighbours`, as a CSR matrix of `shape`."""
    rows, cols, values, rank = ranked
    keep = rank < neighbours
    return sp.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=shape, dtype=np.float32)


def knn_path(train: Interactions, num_movies: int, counts: Sequence[int]) -> Iterator[neighbors.ItemKNN]:
    """One `neighbors.ItemKNN` per neighbour count: the cosine neighbours computed once at the largest count,
    each smaller count keeping each item's strongest of them (what a refit keeps, up to ties)."""
    movie_counts = np.bincount(train.movies, minlength=num_movies + 1)
    full = neighbors.cosine_neighbours(binary_matrix(train, num_movies + 1), max(counts))
    ranked = rank_neighbours(full)
    for k in counts:
        yield neighbors.ItemKNN(truncate_neighbours(ranked, full.shape, k), movie_counts)


def _only_varies(points: Sequence[Mapping[str, Any]], field: str) -> bool:
    return all(set(point) == {field} for point in points)


def candidates(
    name: str,
    train: Interactions,
    num_movies: int,
    t_val: int,
    base: BaselineConfig,
    points: Sequence[Mapping[str, Any]],
    seed: int = 0,
    movie_content: MovieContent | None = None,
) -> Iterator[Recommender]:
    """The baseline fitted at each grid point, in order, one at a time (EASE and item-kNN share their costly
    part across points when the points vary only ease_lambda or knn_neighbors; the rest refit)."""
    if name == "ease" and _only_varies(points, "ease_lambda"):
        lambdas = [point["ease_lambda"] for point in points]
        yield from ease_path(train, num_movies, lambdas, base.ease_max_items, base.ease_memory_gb)
    elif name == "item_knn" and _only_varies(points, "knn_neighbors"):
        yield from knn_path(train, num_movies, [point["knn_neighbors"] for point in points])
    else:
        for point in points:
            config = dataclasses.replace(base, **point)
            yield registry.fit(name, train, num_movies, t_val, config, seed, movie_content)


def _check(name: str, metric: str, points: Sequence[Mapping[str, Any]]) -> None:
    if name not in registry.NAMES:
        raise DataError(f"unknown baseline {name!r}; known: {', '.join(registry.NAMES)}")
    if metric not in metrics.METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(metrics.METRICS)}")
    if not points:
        raise ValueError(f"an empty grid for {name}")
    fields = {f.name for f in dataclasses.fields(BaselineConfig)}
    unknown = sorted({key for point in points for key in point} - fields)
    if unknown:
        raise ValueError(f"grid keys {', '.join(unknown)} are not BaselineConfig fields")


def tune(
    name: str,
    train: Interactions,
    val_cases: Cases,
    num_movies: int,
    t_val: int,
    train_counts: np.ndarray,
    base: BaselineConfig,
    *,
    metric: str = "recall@20",
    max_cases: int | None = None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    points: Sequence[Mapping[str, Any]] | None = None,
    movie_content: MovieContent | None = None,
) -> Tuned:
    """Scores every grid point of a baseline on the validation cases and keeps the best (ties: the first).

    Args:
      name: a `registry.NAMES` baseline.
      train: training ratings (before t_val), the only ratings any grid point is fitted on.
      val_cases: the validation window's cases, the only cases scored.
      num_movies: catalog size n.  t_val: start of the validation window (recent popularity counts back).
      train_counts: [n + 1] training ratings per movie (the evaluator's popularity percentiles).
      base: the settings a grid point does not set (e.g. ease_max_items); the chosen config is base with the
        chosen point applied.
      metric: the validation mean maximised, a `metrics.METRICS` name.
      max_cases: score at most this many validation cases (a sample fixed by seed; None: all).
      seed: the sample's seed and iALS's initialisation.
      batch_size: cases per scores call.
      points: the grid (BaselineConfig field -> value each); None: GRIDS[name].
      movie_content: the catalog's genres and years (the content baseline needs them).

    Returns:
      The grid, its validation scores, the choice and the chosen model fitted on `train`.
    """
    points = grid(name) if points is None else [dict(point) for point in points]
    _check(name, metric, points)
    start = time.perf_counter()
    cases = subsample(val_cases, max_cases, seed)
    scores: list[float] = []
    best, best_means, best_model = 0, {}, None
    for point, model in zip(
        points, candidates(name, train, num_movies, t_val, base, points, seed, movie_content), strict=True
    ):
        means = evaluate(model, cases, num_movies, train_counts, batch_size=batch_size).means()
        scores.append(float(means[metric]))
        logging.info("tuning %s %s: validation %s %.4f", name, point, metric, scores[-1])
        if best_model is None or scores[-1] > scores[best]:
            best, best_means, best_model = len(scores) - 1, means, model
        del model
    return Tuned(
        name=name,
        metric=metric,
        grid=points,
        scores=scores,
        chosen=dict(points[best]),
        config=dataclasses.replace(base, **points[best]),
        validation={key: float(value) for key, value in best_means.items()},
        seconds=time.perf_counter() - start,
        cases=len(cases),
        recommender=best_model,
    )


def tune_all(
    names: Sequence[str],
    data: ValidationData,
    base: BaselineConfig,
    *,
    metric: str = "recall@20",
    max_cases: int | None = None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, Tuned]:
    """`tune` of each named baseline on the same validation data, with its default grid (name -> Tuned)."""
    options = {"metric": metric, "max_cases": max_cases, "seed": seed, "batch_size": batch_size,
               "movie_content": data.movie_content}  # fmt: skip
    inputs = (data.train, data.cases, data.num_movies, data.t_val, data.train_counts, base)
    return {name: tune(name, *inputs, **options) for name in names}


def tuned_config(tuned: Mapping[str, Tuned], base: BaselineConfig) -> BaselineConfig:
    """base with every tuned baseline's chosen settings applied (one config for `registry.fit` of them all)."""
    chosen = {key: value for result in tuned.values() for key, value in result.chosen.items()}
    return dataclasses.replace(base, **chosen)
