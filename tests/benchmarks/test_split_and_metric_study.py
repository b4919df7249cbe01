"""The study's alternative splits and sampled metric on hand-made data whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.split_and_metric_study import NEGATIVES, holdout, leave_one_out_fold, sampled_metrics
from pipelines.data.split import group_by_user
from pipelines.evaluation.evaluator import Queries


def test_holdout_and_leave_one_out() -> None:
    # User 1 rates movies 1..4 at times 10..40; user 2 rates 5, 6 at 50, 60 (too few for leave-one-out).
    data = group_by_user(np.array([1, 1, 1, 1, 2, 2]), np.array([1, 2, 3, 4, 5, 6], np.int32),
                         np.array([4, 5, 3, 4, 5, 5], np.float32), np.array([10, 20, 30, 40, 50, 60]))  # fmt: skip
    fold = leave_one_out_fold(data)
    assert fold.tolist() == [0, 0, 1, 2, 0, 0]
    train, cases = holdout(data, fold)
    assert len(cases) == 0, "user 1's validation rating is a 3: not relevant"
    fold = np.array([1, 0, 0, 1, 0, 1], np.int8)  # as a random split might draw: targets before history
    train, cases = holdout(data, fold)
    assert train.movies.tolist() == [2, 3, 5] and train.offsets.tolist() == [0, 2, 3]
    assert cases.history.movies.tolist() == [2, 3, 5]
    assert cases.target_movies.tolist() == [1, 4, 6] and cases.target_offsets.tolist() == [0, 2, 3]
    assert cases.query_times.tolist() == [10, 60]


class Ranks:
    """Scores the case's targets first (or last) of the catalog."""

    name = "ranks"

    def __init__(self, targets: dict[int, list[int]], best: bool) -> None:
        self.targets, self.best = targets, best

    def scores(self, queries: Queries) -> np.ndarray:
        out = np.zeros((len(queries.query_times), 301), np.float32)
        for r, user in enumerate(queries.history.user_ids):
            out[r, self.targets[int(user)]] = 1.0 if self.best else -1.0
        return out


@pytest.mark.parametrize("best", [True, False])
def test_sampled_metrics_of_a_perfect_and_a_worst_recommender(best: bool) -> None:
    data = group_by_user(np.array([1, 1, 1, 2, 2]), np.array([7, 8, 9, 10, 11], np.int32),
                         np.array([4, 4, 5, 5, 5], np.float32), np.array([1, 2, 3, 4, 5]))  # fmt: skip
    _, cases = holdout(data, np.array([0, 1, 1, 0, 1], np.int8))
    got = sampled_metrics(Ranks({1: [8, 9], 2: [11]}, best), cases, 300, seed=0)
    assert got == ({"sampled_hit@10": 1.0, "sampled_ndcg@10": 1.0} if best else
                   {"sampled_hit@10": 0.0, "sampled_ndcg@10": 0.0})  # fmt: skip
    assert NEGATIVES == 100
