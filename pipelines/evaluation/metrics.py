"""The protocol's ranking metrics (docs/protocol.md), NumPy only, from top-K lists and target sets.

Per case, with T its relevant targets and hits@K the relevant movies among the first K recommended:

- recall@K = hits@K / min(K, |T|)
- ndcg@K = sum over hit positions p < K of 1 / log2(p + 2), divided by the ideal DCG over min(K, |T|)
  positions (binary gains)
- hit@K = 1 if hits@K > 0;  mrr@K = 1 / rank of the first relevant movie (1-based), 0 if none in the top K

Means over cases come with a percentile bootstrap interval (cases resampled with replacement).
"""

from __future__ import annotations

import numpy as np

TOP_K = 100
RECALL_KS = (10, 20, 50, 100)
NDCG_KS = (10, 100)
METRICS = (*(f"recall@{k}" for k in RECALL_KS), *(f"ndcg@{k}" for k in NDCG_KS), "hit@10", "mrr@100")
NO_MOVIE = 0  # a top-K slot left empty (fewer rankable movies than K): the padding index, never a target
_DISCOUNT = 1.0 / np.log2(np.arange(TOP_K) + 2.0)


def hit_matrix(top: np.ndarray, target_offsets: np.ndarray, target_movies: np.ndarray) -> np.ndarray:
    """[C, K] bool: is top[c, p] one of case c's targets.

    Args:
      top: [C, K] int dense movie index, best first (NO_MOVIE for an empty slot).
      target_offsets: [C + 1] int64; case c's targets are target_movies[o[c]:o[c + 1]].
      target_movies: [M] int dense movie index.
    """
    num_cases = len(top)
    stride = np.int64(max(int(top.max(initial=0)), int(target_movies.max(initial=0))) + 1)
    case_of_target = np.repeat(np.arange(num_cases, dtype=np.int64), np.diff(target_offsets))
    target_keys = case_of_target * stride + target_movies
    top_keys = np.arange(num_cases, dtype=np.int64)[:, None] * stride + top
    return np.isin(top_keys, target_keys) & (top != NO_MOVIE)


def per_case(hits: np.ndarray, num_targets: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of METRICS per case.

    Args:
      hits: [C, K] bool from `hit_matrix`, K >= 100.
      num_targets: [C] int, |T| of each case (>= 1).

    Returns:
      metric name -> [C] float64.
    """
    if hits.shape[1] < TOP_K:
        raise ValueError(f"need top-{TOP_K} lists, got {hits.shape[1]}")
    hits = hits[:, :TOP_K]
    num_targets = np.asarray(num_targets, np.int64)
    cumulative = np.cumsum(hits, axis=1)
    out: dict[str, np.ndarray] = {}
    for k in RECALL_KS:
        out[f"recall@{k}"] = cumulative[:, k - 1] / np.minimum(k, num_targets)
    gains = hits * _DISCOUNT
    ideal = np.cumsum(_DISCOUNT)
    for k in NDCG_KS:
        out[f"ndcg@{k}"] = gains[:, :k].sum(axis=1) / ideal[np.minimum(k, num_targets) - 1]
    out["hit@10"] = (cumulative[:, 9] > 0).astype(np.float64)
    first = np.argmax(hits, axis=1)
    out["mrr@100"] = np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)
    return out


def restrict_targets(
    target_offsets: np.ndarray, target_movies: np.ndarray, keep_movie: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each case's targets cut to the movies with keep_movie[movie]; cases left without one are dropped.

    Returns:
      (cases [C'] kept case positions, offsets [C' + 1], movies [M']).
    """
    keep = keep_movie[target_movies]
    case_of_target = np.repeat(np.arange(len(target_offsets) - 1), np.diff(target_offsets))
    counts = np.bincount(case_of_target[keep], minlength=len(target_offsets) - 1)
    cases = np.flatnonzero(counts)
    offsets = np.zeros(len(cases) + 1, np.int64)
    np.cumsum(counts[cases], out=offsets[1:])
    return cases, offsets, target_movies[keep]


def bootstrap_means(values: np.ndarray, resamples: int, seed: int, chunk: int = 100) -> np.ndarray:
    """Means of `resamples` bootstrap resamples of the rows of `values`.

    Each resample draws C row indices with replacement; its means are (row counts) @ values / C, so a
    chunk of resamples is one bincount and one matrix product.

    Args:
      values: [C, V] float64 per-case values (one column per metric).
      resamples: number of resamples R.
      seed: seed of the resampling (the same seed draws the same resamples for every method).

    Returns:
      [R, V] float64.
    """
    num_cases = len(values)
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, values.shape[1]))
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        draws = rng.integers(0, num_cases, size=(rows, num_cases)) + np.arange(rows)[:, None] * num_cases
        counts = np.bincount(draws.ravel(), minlength=rows * num_cases).reshape(rows, num_cases)
        out[start : start + rows] = counts @ values / num_cases
    return out


def summarize(values: dict[str, np.ndarray], resamples: int = 0, seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean per metric, and with resamples > 0 the 95% percentile bootstrap interval [low, high].

    Args:
      values: metric name -> [C] per-case values (C >= 1).

    Returns:
      metric name -> {"mean": m} or {"mean": m, "low": l, "high": h}.
    """
    names = list(values)
    matrix = np.stack([np.asarray(values[n], np.float64) for n in names], axis=1)
    means = matrix.mean(axis=0)
    out = {name: {"mean": float(m)} for name, m in zip(names, means, strict=True)}
    if resamples > 0 and len(matrix):
        low, high = np.percentile(bootstrap_means(matrix, resamples, seed), [2.5, 97.5], axis=0)
        for i, name in enumerate(names):
            out[name].update(low=float(low[i]), high=float(high[i]))
    return out


def paired_ratio(
    numerator: np.ndarray, denominator: np.ndarray, resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Ratio of two methods' means on the same cases, with its 95% paired bootstrap interval.

    Each resample draws the cases once and takes both means over that draw, so what the two methods share
    (which cases are easy) cancels in the ratio; resampling each method alone would not.

    Args:
      numerator, denominator: [C] per-case values of the two methods, in the same case order (C >= 1).

    Returns:
      {"ratio": mean(numerator) / mean(denominator), "low": l, "high": h}; nan where a mean is 0.
    """
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    if numerator.shape != denominator.shape or numerator.ndim != 1 or not len(numerator):
        raise ValueError(f"need two equal non-empty [C] arrays, got {numerator.shape} and {denominator.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        means = bootstrap_means(np.stack([numerator, denominator], axis=1), resamples, seed)
        ratios = np.where(means[:, 1] > 0, means[:, 0] / means[:, 1], np.nan)
        ratio = numerator.mean() / denominator.mean() if denominator.mean() > 0 else np.nan
    low, high = np.percentile(ratios, [2.5, 97.5]) if np.isfinite(ratios).all() else (np.nan, np.nan)
    return {"ratio": float(ratio), "low": float(low), "high": float(high)}


def paired_difference(a: np.ndarray, b: np.ndarray, resamples: int = 1000, seed: int = 0) -> dict[str, float]:
    """mean(b) - mean(a) on the same cases, with its 95% paired bootstrap interval and the share of
    resamples in which b's mean is the higher (the cases drawn once per resample for both, as paired_ratio).

    Args:
      a, b: [C] per-case values of two methods (or two settings of one), in the same case order (C >= 1).

    Returns:
      {"difference", "low", "high", "ahead"}.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"need two equal non-empty [C] arrays, got {a.shape} and {b.shape}")
    differences = bootstrap_means((b - a)[:, None], resamples, seed)[:, 0]
    low, high = np.percentile(differences, [2.5, 97.5])
    return {
        "difference": float(b.mean() - a.mean()),
        "low": float(low),
        "high": float(high),
        "ahead": float(np.mean(differences > 0)),
    }


def popularity_percentiles(counts: np.ndarray) -> np.ndarray:
    """[n + 1] popularity percentile of each movie index by its counts: 100 * (movies with a lower count +
    half of those with the same count) / n, over the n real movies (index 0 ignored). A uniformly random
    movie averages 50; the single most popular one approaches 100."""
    real = np.asarray(counts[1:], np.int64)
    order = np.sort(real)
    below = np.searchsorted(order, real, side="left")
    equal = np.searchsorted(order, real, side="right") - below
    out = np.zeros(len(counts))
    out[1:] = 100.0 * (below + 0.5 * equal) / max(len(real), 1)
    return out


def coverage(top: np.ndarray, num_movies: int, k: int = 10) -> float:
    """Share of the catalog's num_movies movies that appear in at least one top-k list."""
    seen = np.unique(top[:, :k])
    return float(np.count_nonzero(seen != NO_MOVIE) / num_movies)


def mean_popularity_percentile(top: np.ndarray, percentiles: np.ndarray, k: int = 10) -> float:
    """Mean popularity percentile of the movies in the top-k lists (empty slots left out)."""
    movies = top[:, :k]
    movies = movies[movies != NO_MOVIE]
    return float(percentiles[movies].mean()) if len(movies) else float("nan")
