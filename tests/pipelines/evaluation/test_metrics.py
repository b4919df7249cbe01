"""The protocol's metrics on hand-computed cases, the bootstrap, slices' target restriction, popularity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.evaluation import metrics


def lists(rows: dict[int, int], filler_start: int, width: int = 100) -> np.ndarray:
    """A top-100 list with movie rows[p] at position p and non-target fillers elsewhere."""
    top = np.arange(filler_start, filler_start + width, dtype=np.int32)
    for position, movie in rows.items():
        top[position] = movie
    return top


def test_hand_computed_metrics() -> None:
    # Case 0: |T| = 2 (fewer than K), hits at ranks 2 and 15.
    # Case 1: |T| = 15, hits at ranks 1, 3 and 61.  Case 2: |T| = 1, no hit in the top 100.
    top = np.stack([
        lists({1: 3, 14: 7}, 1000),
        lists({0: 101, 2: 102, 60: 103}, 2000),
        lists({}, 3000),
    ])  # fmt: skip
    offsets = np.array([0, 2, 17, 18])
    targets = np.concatenate([[3, 7], np.arange(101, 116), [5]]).astype(np.int32)
    hits = metrics.hit_matrix(top, offsets, targets)
    assert hits.sum(axis=1).tolist() == [2, 3, 0]
    got = metrics.per_case(hits, np.diff(offsets))

    ideal10 = sum(1 / math.log2(p + 2) for p in range(10))
    assert got["recall@10"] == pytest.approx([1 / 2, 2 / 10, 0])
    assert got["recall@20"] == pytest.approx([2 / 2, 2 / 15, 0])
    assert got["recall@50"] == pytest.approx([1, 2 / 15, 0])
    assert got["recall@100"] == pytest.approx([1, 3 / 15, 0])
    assert got["ndcg@10"] == pytest.approx([
        (1 / math.log2(3)) / (1 + 1 / math.log2(3)),
        (1 + 1 / math.log2(4)) / ideal10,
        0,
    ])  # fmt: skip
    ideal15 = sum(1 / math.log2(p + 2) for p in range(15))
    assert got["ndcg@100"] == pytest.approx([
        (1 / math.log2(3) + 1 / math.log2(16)) / (1 + 1 / math.log2(3)),
        (1 + 1 / math.log2(4) + 1 / math.log2(62)) / ideal15,
        0,
    ])  # fmt: skip
    assert got["hit@10"].tolist() == [1, 1, 0]
    assert got["mrr@100"] == pytest.approx([1 / 2, 1, 0])


def test_empty_slots_and_repeated_movies_are_not_hits() -> None:
    top = np.zeros((1, 100), np.int32)  # an all-empty list (NO_MOVIE = padding)
    top[0, :3] = [9, 4, 9]  # a (buggy) repeated movie counts as the same target only where it stands
    hits = metrics.hit_matrix(top, np.array([0, 2]), np.array([0, 4], np.int32))
    assert hits[0, :3].tolist() == [False, True, False]
    assert hits.sum() == 1, "the padding index never counts, even if listed as a target"


def test_restrict_targets_drops_cases_without_a_kept_target() -> None:
    offsets = np.array([0, 2, 3, 5])
    movies = np.array([1, 2, 3, 2, 4], np.int32)
    keep = np.array([False, True, False, False, True])  # movies 1 and 4
    cases, sub_offsets, sub_movies = metrics.restrict_targets(offsets, movies, keep)
    assert cases.tolist() == [0, 2]
    assert sub_offsets.tolist() == [0, 1, 2]
    assert sub_movies.tolist() == [1, 4]


def test_bootstrap_matches_a_plain_resampling_loop() -> None:
    rng = np.random.default_rng(3)
    values = rng.random((57, 2))
    got = metrics.bootstrap_means(values, resamples=250, seed=11, chunk=100)
    draw = np.random.default_rng(11)
    expected = []
    for rows in (100, 100, 50):
        for index in draw.integers(0, 57, size=(rows, 57)):
            expected.append(values[index].mean(axis=0))
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-12)


def test_summarize_intervals() -> None:
    constant = metrics.summarize({"m": np.full(10, 0.25)}, resamples=200, seed=0)
    assert constant == {"m": {"mean": 0.25, "low": 0.25, "high": 0.25}}
    rng = np.random.default_rng(0)
    values = rng.random(4000)
    summary = metrics.summarize({"m": values}, resamples=1000, seed=0)["m"]
    half_width = 1.96 * values.std() / math.sqrt(len(values))  # the normal approximation
    assert summary["low"] < summary["mean"] < summary["high"]
    assert summary["high"] - summary["low"] == pytest.approx(2 * half_width, rel=0.1)
    assert metrics.summarize({"m": values}) == {"m": {"mean": pytest.approx(values.mean())}}


def test_paired_ratio_resamples_both_methods_over_the_same_cases() -> None:
    rng = np.random.default_rng(5)
    baseline = rng.random(60)  # cases of very different difficulty
    scaled = metrics.paired_ratio(1.1 * baseline, baseline, resamples=500, seed=0)
    # Paired, a method that is 1.1x on every case is 1.1x in every resample; resampled apart, it would not be.
    assert scaled == {"ratio": pytest.approx(1.1), "low": pytest.approx(1.1), "high": pytest.approx(1.1)}
    noisy = baseline + rng.normal(0, 0.05, 60)
    paired = metrics.paired_ratio(noisy, baseline, resamples=2000, seed=1)
    draw = np.random.default_rng(2).integers(0, 60, size=(2000, 2, 60))
    unpaired = noisy[draw[:, 0]].mean(axis=1) / baseline[draw[:, 1]].mean(axis=1)
    assert paired["low"] < paired["ratio"] < paired["high"]
    assert paired["ratio"] == pytest.approx(noisy.mean() / baseline.mean())
    assert paired["high"] - paired["low"] < 0.5 * np.subtract(*np.percentile(unpaired, [97.5, 2.5]))
    assert np.isnan(metrics.paired_ratio(baseline, np.zeros(60))["ratio"])
    with pytest.raises(ValueError, match="equal non-empty"):
        metrics.paired_ratio(baseline, baseline[:10])


def test_paired_difference_resamples_the_per_case_differences() -> None:
    rng = np.random.default_rng(6)
    a = rng.random(80)  # cases of very different difficulty
    shifted = metrics.paired_difference(a, a + 0.02, resamples=500, seed=0)
    # +0.02 on every case is +0.02 in every resample, and B ahead in all of them
    assert shifted == {"difference": pytest.approx(0.02), "low": pytest.approx(0.02), "high": pytest.approx(0.02),
                       "ahead": 1.0}  # fmt: skip
    b = a + rng.normal(0, 0.05, 80)
    noisy = metrics.paired_difference(a, b, resamples=2000, seed=1)
    assert noisy["difference"] == pytest.approx(b.mean() - a.mean())
    assert noisy["low"] < noisy["difference"] < noisy["high"]
    half_width = 1.96 * np.std(b - a, ddof=1) / np.sqrt(80)  # the normal approximation of the same interval
    assert noisy["high"] - noisy["low"] == pytest.approx(2 * half_width, rel=0.15)
    swapped = metrics.paired_difference(b, a, resamples=2000, seed=1)
    assert swapped["ahead"] == pytest.approx(1 - noisy["ahead"], abs=0.01)
    with pytest.raises(ValueError, match="equal non-empty"):
        metrics.paired_difference(a, a[:10])


def test_popularity_percentiles_coverage_and_bias() -> None:
    counts = np.array([99, 5, 4, 3, 2, 1, 0])  # index 0 (padding) ignored
    percentiles = metrics.popularity_percentiles(counts)
    assert percentiles[1:] == pytest.approx([100 * (5 + 0.5) / 6, 75, 100 * 3.5 / 6, 100 * 2.5 / 6, 25, 100 * 0.5 / 6])
    tied = metrics.popularity_percentiles(np.array([0, 2, 2, 0, 0]))
    assert tied[1:] == pytest.approx([75, 75, 25, 25])

    top = np.zeros((2, 100), np.int32)
    top[0, :3] = [1, 2, 3]
    top[1, :2] = [1, 6]
    top[1, 10] = 5  # outside the top 10
    assert metrics.coverage(top, num_movies=6) == pytest.approx(4 / 6)
    assert metrics.mean_popularity_percentile(top, percentiles) == pytest.approx(np.mean(percentiles[[1, 2, 3, 1, 6]]))
