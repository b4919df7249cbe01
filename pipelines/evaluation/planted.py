"""The planted oracle: the ceiling of a synthetic release, scoring with the generator's own parameters.

For a case of user u at query time t, movie j scores

    log P(u rates j at t) + log P(rating >= 4 | u rates j at t)

under the World model of `pipelines.data.synthetic.world`: the cluster of a rating is drawn from the user's
start or end affinities (the end one with probability drift(u, t)), then a movie of the cluster by
popularity among the movies released by t; the rating is mean_rating + RATING_NOISE * N(0, 1) rounded to
half stars (whole stars before HALF_STARS_FROM), so it reaches 4 when the unrounded value is at least
3.75 (3.5 with whole stars). It reads planted_truth.npz, which no model or baseline sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import log_ndtr

from pipelines.data.errors import DataError
from pipelines.data.features import Catalog
from pipelines.data.split import RELEVANT_RATING
from pipelines.data.synthetic.world import HALF_STARS_FROM, RATING_BASE, RATING_NOISE, RATING_TASTE, World
from pipelines.evaluation.evaluator import Queries

PLANTED_TRUTH = "planted_truth.npz"
_TINY = 1e-300  # log(_TINY): the log-probability of rating a movie not yet released


def has_planted_truth(data_dir: str | Path | None) -> bool:
    return data_dir is not None and (Path(data_dir) / PLANTED_TRUTH).exists()


class PlantedOracle:
    """Scores with the planted World (see the module docstring), in float32, a batch at a time."""

    name = "planted_oracle"

    def __init__(
        self,
        world: World,
        internal_movie: np.ndarray,
        internal_user: dict[int, int],
        popularity: np.ndarray | None = None,
    ) -> None:
        """internal_movie: [n] the World's movie of dense indices 1..n; internal_user: userId -> World user;
        popularity: [n] sampling weights to use instead of the planted ones (the ceiling study)."""
        self.world = world
        self.internal_movie = internal_movie
        self.internal_user = internal_user
        w = world
        popularity = w.movie_popularity[internal_movie] if popularity is None else np.asarray(popularity)
        self.cluster = w.movie_cluster[internal_movie]
        self.log_popularity = np.log(popularity).astype(np.float32)
        self.release = w.movie_release[internal_movie]
        self.factors = w.movie_factors[internal_movie].astype(np.float32)
        self.quality = w.movie_quality[internal_movie].astype(np.float32)
        self.start_affinity = w.cluster_affinity(w.user_taste_start)
        self.end_affinity = w.cluster_affinity(w.user_taste_end)
        # Per cluster, its movies' release times in order and the popularity released up to each: the
        # popularity mass a cluster has released by time t is then one searchsorted.
        self.cluster_release, self.cluster_mass = [], []
        for c in range(len(w.centroids)):
            members = np.flatnonzero(self.cluster == c)
            order = np.argsort(self.release[members], kind="stable")
            self.cluster_release.append(self.release[members][order])
            mass = popularity[members][order]
            self.cluster_mass.append(np.concatenate([[0.0], np.cumsum(mass)]))

    def released_mass(self, times: np.ndarray) -> np.ndarray:
        """[B, C] total popularity of each cluster's movies released by each time."""
        pairs = zip(self.cluster_release, self.cluster_mass, strict=True)
        return np.stack([mass[np.searchsorted(release, times, side="right")] for release, mass in pairs], axis=1)

    def scores(self, queries: Queries) -> np.ndarray:
        users = np.array([self.internal_user[int(u)] for u in queries.history.user_ids], np.int64)
        times = np.asarray(queries.query_times, np.int64)
        w = self.world
        drift = w.drift(users, times)[:, None]
        affinity = (1 - drift) * self.start_affinity[users] + drift * self.end_affinity[users]  # [B, C]
        return self.score(affinity, w.taste(users, times), w.user_bias[users], times)

    def score(self, affinity: np.ndarray, taste: np.ndarray, bias: np.ndarray, times: np.ndarray) -> np.ndarray:
        """[B, n + 1] log P(rate j at t) + log P(rating >= 4) from the users' cluster affinities [B, C],
        tastes [B, d] and rating biases [B] at query times [B], with the planted movies."""
        log_share = np.log(np.maximum(affinity, _TINY)) - np.log(np.maximum(self.released_mass(times), _TINY))
        out = np.empty((len(times), len(self.internal_movie) + 1), np.float32)
        out[:, 0] = -np.inf
        body = out[:, 1:]  # log P(rate j at t) = log share of j's cluster + log popularity of j, if released
        body[...] = log_share.astype(np.float32)[:, self.cluster]
        body += self.log_popularity
        body[self.release[None, :] > times[:, None]] = np.log(_TINY)
        # log P(rating >= 4): the unrounded rating base + quality + bias + taste . factor + noise reaches the
        # threshold; z = (mean - threshold) / noise, built in place.
        threshold = np.where(times >= HALF_STARS_FROM, RELEVANT_RATING - 0.25, RELEVANT_RATING - 0.5)
        z = taste.astype(np.float32) @ self.factors.T
        z *= RATING_TASTE / RATING_NOISE
        z += self.quality / RATING_NOISE
        z += ((RATING_BASE + bias - threshold) / RATING_NOISE).astype(np.float32)[:, None]
        body += log_ndtr(z)
        return out


class HistoryTasteOracle:
    """The planted movies with the user's taste read from the query history: the reference for a history model.

    It scores like PlantedOracle and knows every movie as the generator does (cluster, popularity,
    release time, quality, factors), but not the user: the cluster affinities are the history's cluster
    counts, each rating weighted exp(-age / DECAY_DAYS) at the query time, plus PRIOR_WEIGHT times the
    catalog's cluster shares; the taste is the normalised weighted mean of the history's movie factors;
    the rating bias is 0. A model that sees only ratings cannot know a user better than their history
    says, and must learn the movies from ratings as well, so this is the reachable reference for the
    two-tower model (PlantedOracle also knows each user's true drifting taste). It is not a strict
    ceiling: a better estimate of the user than recency-weighted counts could beat it. DECAY_DAYS and
    PRIOR_WEIGHT were the best of {30, 180, 720 days, no decay} x {0.3, 1} on the demo's validation window.
    """

    name = "planted_movies_history_taste"
    DECAY_DAYS, PRIOR_WEIGHT = 180.0, 1.0

    def __init__(self, oracle: PlantedOracle) -> None:
        self.oracle = oracle
        mass = np.bincount(oracle.cluster, weights=np.exp(oracle.log_popularity), minlength=len(oracle.cluster_mass))
        self.prior = mass / mass.sum()

    def scores(self, queries: Queries) -> np.ndarray:
        history, times = queries.history, np.asarray(queries.query_times, np.int64)
        rows = np.repeat(np.arange(len(times)), np.diff(history.offsets))
        movies = np.asarray(history.movies) - 1
        weight = np.exp(-(times[rows] - np.asarray(history.timestamps)) / (self.DECAY_DAYS * 86_400.0))
        clusters = len(self.prior)
        counts = np.bincount(rows * clusters + self.oracle.cluster[movies], weights=weight,
                             minlength=len(times) * clusters).reshape(len(times), clusters)  # fmt: skip
        affinity = counts + self.PRIOR_WEIGHT * self.prior
        taste = np.zeros((len(times), self.oracle.factors.shape[1]))
        np.add.at(taste, rows, weight[:, None] * self.oracle.factors[movies])
        taste /= np.maximum(np.linalg.norm(taste, axis=1, keepdims=True), 1e-9)
        return self.oracle.score(affinity / affinity.sum(1, keepdims=True), taste, np.zeros(len(times)), times)


def load_oracle(data_dir: str | Path, catalog: Catalog) -> PlantedOracle:
    """The oracle of the synthetic release in data_dir (DataError if it has no planted_truth.npz)."""
    path = Path(data_dir) / PLANTED_TRUTH
    if not path.exists():
        raise DataError("no planted truth: the planted oracle needs a synthetic release", path=path)
    with np.load(path) as z:
        world = World(**{name: z[name] for name in World.__dataclass_fields__})
        movie_ids, user_ids = z["movie_ids"], z["user_ids"]
    order = np.argsort(movie_ids)
    position = np.searchsorted(movie_ids[order], catalog.movie_ids[1:])
    position = np.minimum(position, len(order) - 1)
    if not np.array_equal(movie_ids[order][position], catalog.movie_ids[1:]):
        raise DataError("the catalog has movies the planted truth does not know", path=path)
    internal_user = {int(u): i for i, u in enumerate(user_ids)}
    return PlantedOracle(world, order[position], internal_user)
