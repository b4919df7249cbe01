"""The evaluator: history exclusion, top-k with ties, hand-computed case metrics and slices, batching,
and agreement with a naive per-case loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.evaluation import naive, random_cases
from pipelines.data.split import Cases, Interactions
from pipelines.evaluation import metrics
from pipelines.evaluation.evaluator import Queries, evaluate, mask_history, rank, top_k

COUNTS = np.array([0, 5, 4, 3, 2, 1, 0])  # movie 6 is cold (no training rating)


class FixedScores:
    """The same scores for every query; history movies 1 and 2 score highest (they must not count)."""

    name = "fixed"

    def __init__(self, row: list[float], exclude_history: bool = False) -> None:
        self.row = np.array(row, np.float32)
        self.exclude_history = exclude_history

    def scores(self, queries: Queries) -> np.ndarray:
        out = np.tile(self.row, (len(queries.query_times), 1))
        if self.exclude_history:
            out[np.repeat(np.arange(len(out)), queries.history.lengths), queries.history.movies] = -np.inf
        return out


class SeededScores:
    """Integer scores (many ties) drawn from the query's user id: a deterministic 'random' recommender."""

    name = "seeded"

    def __init__(self, num_movies: int) -> None:
        self.num_movies = num_movies

    def scores(self, queries: Queries) -> np.ndarray:
        rows = [np.random.default_rng(int(u)).integers(0, 40, self.num_movies + 1) for u in queries.history.user_ids]
        return np.array(rows, np.float32)


def hand_cases() -> Cases:
    """Case 0: history [1, 2], target 3.  Case 1: cold user (empty history), targets 6 (cold movie) and 2."""
    history = Interactions(
        user_ids=np.array([10, 11]),
        offsets=np.array([0, 2, 2]),
        movies=np.array([1, 2], np.int32),
        ratings=np.array([4.0, 3.0], np.float32),
        timestamps=np.array([50, 60]),
    )
    return Cases(history, np.array([100, 200]), np.array([0, 1, 3]), np.array([3, 6, 2], np.int32))


def test_top_k_breaks_ties_by_lower_index_and_never_recommends_minus_inf() -> None:
    scores = np.array([[-np.inf, 1, 3, 3, 2, 3], [-np.inf, 0, 0, 0, 0, 0], [-np.inf, -np.inf, 7, -np.inf, 1, -np.inf]])
    assert top_k(scores, 2).tolist() == [[2, 3], [1, 2], [2, 4]]
    assert top_k(scores, 4).tolist() == [[2, 3, 5, 4], [1, 2, 3, 4], [2, 4, 0, 0]]
    assert top_k(scores, 8)[0].tolist() == [2, 3, 5, 4, 1, 0, 0, 0]


@pytest.mark.parametrize("seed", range(4))
def test_top_k_matches_a_stable_full_sort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    width = [300, 7_000, 20_000, 50][seed]
    scores = rng.integers(0, [5, 1000, 50, 3][seed], (37, width)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    scores[0] = 1.0  # every score tied
    expected = np.zeros((37, 100), np.int32)
    for r, row in enumerate(scores):
        order = np.lexsort((np.arange(width), -row))[:100]
        order = order[row[order] > -np.inf]
        expected[r, : len(order)] = order
    np.testing.assert_array_equal(top_k(scores, 100, chunk=8), expected)


def test_mask_history_excludes_padding_and_history_and_copies_read_only_scores() -> None:
    cases = hand_cases()
    shared = np.broadcast_to(np.arange(7, dtype=np.float32), (2, 7))
    masked = mask_history(shared, cases.history)
    assert masked[0].tolist() == [-np.inf, -np.inf, -np.inf, 3, 4, 5, 6]
    assert masked[1].tolist() == [-np.inf, 1, 2, 3, 4, 5, 6]
    assert shared[0, 1] == 1, "a read-only input is copied, not written"


def test_hand_computed_evaluation_with_slices() -> None:
    recommender = FixedScores([0, 10, 9, 1, 5, -np.inf, 3])
    result = evaluate(recommender, hand_cases(), num_movies=6, train_counts=COUNTS)
    # Case 0 (history 1, 2 excluded): 4, 6, 3 -> target 3 at rank 3.  Case 1 (cold): 1, 2, 4, 6, 3 -> 2 at 2, 6 at 4.
    assert result.top[0, :4].tolist() == [4, 6, 3, metrics.NO_MOVIE]
    assert result.top[1, :6].tolist() == [1, 2, 4, 6, 3, metrics.NO_MOVIE]
    o = result.means()
    case1_ndcg = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert o["recall@10"] == o["recall@100"] == 1.0
    assert o["ndcg@10"] == pytest.approx((1 / math.log2(4) + case1_ndcg) / 2)
    assert o["hit@10"] == 1.0
    assert o["mrr@100"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert o["coverage@10"] == pytest.approx(5 / 6)  # movie 5 is never recommended (-inf)
    pct = {1: 5.5 / 6, 2: 4.5 / 6, 3: 3.5 / 6, 4: 2.5 / 6, 6: 0.5 / 6}
    expected_pct = 100 * np.mean([pct[m] for m in (4, 6, 3, 1, 2, 4, 6, 3)])
    assert o["popularity_percentile@10"] == pytest.approx(expected_pct)

    s = result.slices
    assert s["cold_users"]["cases"] == 1 and s["cold_users"]["mrr@100"]["mean"] == pytest.approx(1 / 2)
    assert s["users_with_history"]["cases"] == 1 and s["users_with_history"]["mrr@100"]["mean"] == pytest.approx(1 / 3)
    cold_movies = s["cold_movie_targets"]  # case 1 with target set {6}: rank 4
    assert cold_movies["cases"] == 1
    assert cold_movies["mrr@100"]["mean"] == pytest.approx(1 / 4)
    assert cold_movies["ndcg@10"]["mean"] == pytest.approx(1 / math.log2(5))
    warm_movies = s["warm_movie_targets"]  # case 0 {3}: rank 3; case 1 {2}: rank 2
    assert warm_movies["cases"] == 2 and warm_movies["mrr@100"]["mean"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert {k: v["cases"] for k, v in result.by_history_length.items()} == {
        "0": 1, "1-4": 1, "5-19": 0, "20-99": 0, "100+": 0,
    }  # fmt: skip
    assert "low" not in result.overall["recall@20"], "resamples=0 is the fast path: no intervals"


def test_history_movies_returned_by_a_recommender_do_not_count() -> None:
    # Had movies 1 and 2 not been excluded, case 0's target would stand at rank 5, not 3.
    row = [0, 10, 9, 1, 5, -np.inf, 3]
    plain = evaluate(FixedScores(row), hand_cases(), 6, COUNTS)
    self_excluding = evaluate(FixedScores(row, exclude_history=True), hand_cases(), 6, COUNTS)
    assert plain.means() == self_excluding.means()
    np.testing.assert_array_equal(plain.top, self_excluding.top)


def test_intervals_batching_and_errors() -> None:
    cases = random_cases(300, 500, np.arange(501) + 1, seed=2)
    counts = np.bincount(np.asarray(cases.history.movies), minlength=501)
    recommender = SeededScores(500)
    one = evaluate(recommender, cases, 500, counts, batch_size=1, resamples=200, seed=1)
    many = evaluate(recommender, cases, 500, counts, batch_size=128, resamples=200, seed=1)
    assert one.to_json() | {"seconds": 0} == many.to_json() | {"seconds": 0}
    for name in metrics.METRICS:
        value = one.overall[name]
        assert value["low"] <= value["mean"] <= value["high"]

    class Broken(FixedScores):
        def scores(self, queries: Queries) -> np.ndarray:
            out = super().scores(queries)
            out[0, 3] = np.nan
            return out

    with pytest.raises(ValueError, match="NaN"):
        rank(Broken([0] * 7), hand_cases())
    with pytest.raises(ValueError, match="n \\+ 1"):
        evaluate(FixedScores([0] * 7), hand_cases(), 6, COUNTS[:-1])


def test_agrees_with_a_naive_per_case_loop_on_tied_scores() -> None:
    cases = random_cases(250, 3_000, np.arange(3_001) + 1, seed=5)
    recommender = SeededScores(3_000)
    result = evaluate(recommender, cases, 3_000, np.ones(3_001, np.int64), batch_size=64)
    expected = naive(recommender, cases, len(cases))
    for name in metrics.METRICS:
        assert result.overall[name]["mean"] == pytest.approx(expected[name], abs=1e-12), name


def test_cold_movie_share_counts_movies_without_a_training_rating_in_the_top_20() -> None:
    # Movie 6 is the only cold one. Case 0 (history 1, 2) ranks 6, 5, 4, 3; case 1 (no history) ranks
    # 1, 2, 6, 5, 4, 3; the rest of each top-20 is padding, which is no recommendation: 2 cold of 10.
    result = evaluate(FixedScores([0, 9, 8, 1, 2, 3, 4]), hand_cases(), num_movies=6, train_counts=COUNTS)
    assert result.overall["cold_movie_share@20"]["mean"] == pytest.approx(0.2)
