"""The planted structure of the synthetic MovieLens release.

Who rates what, when and how high is drawn from a known generative model, so a recommender's quality
can be compared with what the truth itself achieves:

- Movies have unit latent factors around one of C taste clusters, a Zipf popularity, a quality and a
  release time; a movie can only be rated after it is released (late movies are cold items).
- Users have a start and an end taste vector (drift: the mixture weight moves from start to end over the
  user's active span), a rating bias, and rate in bursts (sessions, most ratings in the first one).
- A rating picks a cluster from the user's current cluster affinities softmax(beta * taste . centroid),
  then a movie of that cluster in proportion to popularity; its value is
  3.2 + quality + bias + 1.5 * taste . factor + noise, rounded to half stars (whole stars before 2003).
- Genres and genome relevances are noisy functions of the movie factors.
"""

from __future__ import annotations

import dataclasses

import numpy as np

T_START, T_END = 789_652_009, 1_689_811_200  # 1995-01-09 .. 2023-07-20, as in ml-latest
HALF_STARS_FROM = 1_045_000_000  # MovieLens allowed half stars from early 2003
YEAR_S = 31_556_952
RATING_BASE, RATING_TASTE, RATING_NOISE = 3.2, 1.5, 0.6


@dataclasses.dataclass(frozen=True)
class Preset:
    users: int
    movies: int
    ratings: int
    genome_movies: int
    genome_tags: int
    tags: int
    dim: int = 16
    clusters: int = 32


PRESETS = {
    "tiny": Preset(users=300, movies=600, ratings=15_000, genome_movies=200, genome_tags=24, tags=800,
                   clusters=8),
    "small": Preset(users=6_000, movies=5_000, ratings=400_000, genome_movies=1_500, genome_tags=128,
                    tags=20_000, clusters=24),
    "full": Preset(users=330_975, movies=86_537, ratings=33_832_162, genome_movies=16_376, genome_tags=1_128,
                   tags=2_328_315),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class World:
    """The truth behind one synthetic release (saved beside it as planted_truth.npz)."""

    centroids: np.ndarray  # [C, d]
    beta: float
    movie_factors: np.ndarray  # [M, d] unit rows
    movie_cluster: np.ndarray  # [M]
    movie_popularity: np.ndarray  # [M] sampling weight within its cluster
    movie_quality: np.ndarray  # [M]
    movie_release: np.ndarray  # [M] first second it can be rated
    user_taste_start: np.ndarray  # [U, d] unit rows
    user_taste_end: np.ndarray  # [U, d]
    user_start: np.ndarray  # [U] first rating time
    user_span: np.ndarray  # [U] seconds over which the taste drifts
    user_bias: np.ndarray  # [U]

    def drift(self, users: np.ndarray, times: np.ndarray) -> np.ndarray:
        """[N] weight of the end taste at `times` (0 at the user's start, 1 after its span)."""
        return np.clip((times - self.user_start[users]) / self.user_span[users], 0.0, 1.0)

    def taste(self, users: np.ndarray, times: np.ndarray) -> np.ndarray:
        lam = self.drift(users, times)[:, None]
        taste = (1 - lam) * self.user_taste_start[users] + lam * self.user_taste_end[users]
        return taste / np.linalg.norm(taste, axis=1, keepdims=True)

    def cluster_affinity(self, tastes: np.ndarray) -> np.ndarray:
        logits = self.beta * tastes @ self.centroids.T
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def mean_rating(self, users: np.ndarray, movies: np.ndarray, times: np.ndarray) -> np.ndarray:
        affinity = np.einsum("nd,nd->n", self.taste(users, times), self.movie_factors[movies])
        return RATING_BASE + self.movie_quality[movies] + self.user_bias[users] + RATING_TASTE * affinity


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def make_world(preset: Preset, rng: np.random.Generator) -> World:
    d, c, m, u = preset.dim, preset.clusters, preset.movies, preset.users
    centroids = _unit(rng.normal(size=(c, d)))
    cluster = rng.choice(c, size=m, p=rng.dirichlet(np.full(c, 3.0)))
    cluster[:c] = np.arange(c)  # no empty cluster
    factors = _unit(centroids[cluster] + 0.45 * rng.normal(size=(m, d)))
    popularity = (1.0 + rng.permutation(m)) ** -0.95
    quality = 0.25 * rng.normal(size=m) + 0.15 * (np.log(popularity) - np.log(popularity).mean()) / 3
    # Release times: a long tail of old films available from the start, more each year after.
    old = rng.random(m) < 0.3
    release = np.where(
        old,
        T_START - rng.exponential(15 * YEAR_S, size=m),
        T_START + (T_END - T_START) * rng.beta(1.6, 1.0, size=m),
    ).astype(np.int64)
    # Users join over the years (more later), stay active for a heavy-tailed span.
    start = (T_START + (T_END - T_START) * rng.beta(1.4, 1.0, size=u) * 0.98).astype(np.int64)
    span = np.minimum(rng.exponential(1.5 * YEAR_S, size=u) + 86_400, T_END - start).astype(np.int64) + 1
    return World(
        centroids=centroids,
        beta=4.0,
        movie_factors=factors,
        movie_cluster=cluster,
        movie_popularity=popularity,
        movie_quality=quality,
        movie_release=release,
        user_taste_start=_unit(rng.normal(size=(u, d))),
        user_taste_end=_unit(rng.normal(size=(u, d))),
        user_start=start,
        user_span=span,
        user_bias=0.35 * rng.normal(size=u),
    )


def _flat_choice(cdf: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Column drawn from each requested row of a row-wise CDF matrix [R, K], in one searchsorted."""
    flat = (cdf + np.arange(len(cdf))[:, None]).ravel()
    column = np.searchsorted(flat, rows + rng.random(len(rows)), side="right") - rows * cdf.shape[1]
    return np.minimum(column, cdf.shape[1] - 1)


def rating_times(world: World, counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(user, timestamp) per rating, users in bursts: sessions over the active span, seconds apart inside."""
    users = np.repeat(np.arange(len(counts)), counts)
    sessions = 1 + rng.poisson(np.log1p(counts) * 1.2)
    # Ratings lean to early sessions (u^2), as MovieLens users rate most on sign-up.
    session = np.minimum((rng.random(len(users)) ** 2 * sessions[users]).astype(np.int64), sessions[users] - 1)
    offset = np.where(session == 0, 0.0, rng.random(len(users)))
    # One start per (user, session): reuse the draw of the session's first rating via a sort.
    order = np.lexsort((session, users))
    users, session, offset = users[order], session[order], offset[order]
    first = np.ones(len(users), bool)
    first[1:] = (users[1:] != users[:-1]) | (session[1:] != session[:-1])
    group = np.cumsum(first) - 1
    session_start = world.user_start[users] + (offset[first][group] * world.user_span[users]).astype(np.int64)
    gaps = rng.integers(8, 150, size=len(users))
    elapsed = np.cumsum(gaps)
    within = elapsed - elapsed[first][group]
    times = np.minimum(session_start + within, T_END - rng.integers(0, 3600, size=len(users)))
    return users, times


def draw_movies(world: World, users: np.ndarray, times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A movie per (user, time) from the planted choice model; -1 where no released movie was found."""
    start_cdf = np.cumsum(world.cluster_affinity(world.user_taste_start), axis=1)
    end_cdf = np.cumsum(world.cluster_affinity(world.user_taste_end), axis=1)
    for cdf in (start_cdf, end_cdf):
        cdf /= cdf[:, -1:]
    use_end = rng.random(len(users)) < world.drift(users, times)
    cluster = np.where(use_end, _flat_choice(end_cdf, users, rng), _flat_choice(start_cdf, users, rng))
    # Popularity-proportional draw inside the cluster, via one CDF over movies grouped by cluster.
    by_cluster = np.argsort(world.movie_cluster, kind="stable")
    weights = world.movie_popularity[by_cluster]
    bounds = np.searchsorted(world.movie_cluster[by_cluster], np.arange(len(world.centroids) + 1))
    cluster_total = np.add.reduceat(weights, bounds[:-1])
    within = np.cumsum(weights) - np.repeat(np.cumsum(cluster_total) - cluster_total, np.diff(bounds))
    cdf = within / np.repeat(cluster_total, np.diff(bounds)) + np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    movies = np.full(len(users), -1, np.int64)
    pending = np.arange(len(users))
    for _ in range(8):  # resample draws that hit a movie not yet released
        pick = np.searchsorted(cdf, cluster[pending] + rng.random(len(pending)), side="right")
        pick = by_cluster[np.minimum(pick, len(cdf) - 1)]
        ok = world.movie_release[pick] <= times[pending]
        movies[pending[ok]] = pick[ok]
        pending = pending[~ok]
        if not len(pending):
            break
    return movies


def draw_ratings(world: World, users: np.ndarray, movies: np.ndarray, times: np.ndarray,
                 rng: np.random.Generator, chunk: int = 2_000_000) -> np.ndarray:  # fmt: skip
    """Star ratings, 0.5..5 on the half-star grid (whole stars before HALF_STARS_FROM)."""
    out = np.empty(len(users), np.float32)
    for s in range(0, len(users), chunk):
        sl = slice(s, s + chunk)
        value = world.mean_rating(users[sl], movies[sl], times[sl]) + RATING_NOISE * rng.normal(size=len(out[sl]))
        step = np.where(times[sl] < HALF_STARS_FROM, 1.0, 0.5)
        out[sl] = np.clip(np.round(value / step) * step, np.where(step == 1.0, 1.0, 0.5), 5.0)
    return out


def _unique_slots(world: World, users: np.ndarray, times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A movie per rating slot such that no user gets a movie twice (-1 where none was found).

    Slots whose draw repeats one of the user's movies are redrawn, keeping the time (sessions intact).
    """
    n_movies = len(world.movie_factors)
    movies = draw_movies(world, users, times, rng)
    key = users * n_movies + movies
    drawn = movies >= 0
    accepted, first = np.unique(key[drawn], return_index=True)
    pending = np.setdiff1d(np.arange(len(users)), np.flatnonzero(drawn)[first], assume_unique=True)
    for _ in range(40):
        if not len(pending):
            break
        movies[pending] = draw_movies(world, users[pending], times[pending], rng)
        key = users[pending] * n_movies + movies[pending]
        position = np.minimum(np.searchsorted(accepted, key), len(accepted) - 1)
        fresh = (movies[pending] >= 0) & (accepted[position] != key)
        new_keys, first = np.unique(key[fresh], return_index=True)
        accepted = np.sort(np.concatenate([accepted, new_keys]), kind="stable")  # merges two sorted runs
        done = np.flatnonzero(fresh)[first]
        pending = np.setdiff1d(pending, pending[done], assume_unique=True)
    movies[pending] = -1
    return movies


def sample_ratings(world: World, preset: Preset, rng: np.random.Generator):
    """(users, movies, timestamps, ratings) of exactly `preset.ratings` unique (user, movie) pairs."""
    # Heavy-tailed activity, capped at a third of the catalog, scaled to 10% more slots than needed.
    activity = np.exp(1.25 * rng.normal(size=preset.users))
    wanted, scale = 1.1 * preset.ratings, 1.1 * preset.ratings / activity.sum()
    for _ in range(30):
        counts = np.clip(np.round(activity * scale), 1, preset.movies // 3).astype(np.int64)
        scale *= wanted / counts.sum()
    users, times = rating_times(world, counts, rng)
    movies = _unique_slots(world, users, times, rng)
    keep = np.flatnonzero(movies >= 0)
    if len(keep) < preset.ratings:
        raise RuntimeError(f"generated {len(keep)} unique ratings, fewer than {preset.ratings}")
    keep = np.sort(rng.choice(keep, size=preset.ratings, replace=False))
    users, movies, times = users[keep], movies[keep], times[keep]
    return users, movies, times, draw_ratings(world, users, movies, times, rng)
