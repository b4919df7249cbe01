"""benchmarks.cold_ranking: cold targets ranked among the cold movies only; the CLI runs end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.cold_ranking import cold_target_ranks
from pipelines.data.split import Cases, Interactions
from pipelines.evaluation.evaluator import Queries
from tests.conftest import run_module


def test_cold_targets_are_ranked_among_the_cold_movies_outside_the_history() -> None:
    history = Interactions(
        user_ids=np.array([1, 2]),
        offsets=np.array([0, 1, 1], np.int64),
        movies=np.array([4], np.int32),  # user 1 has rated cold movie 4 (in the window's folded-in half)
        ratings=np.array([5.0], np.float32),
        timestamps=np.array([0], np.int64),
    )
    cases = Cases(history, np.zeros(2, np.int64), np.array([0, 2, 3], np.int64), np.array([3, 5, 6], np.int32))
    cold = np.array([False, False, False, True, True, True, True])  # movies 3..6 have no training rating

    class Fixed:  # the same scores for every query: movie 1 (warm) first, then 4, 6, 5, 3
        name = "fixed"

        def scores(self, queries: Queries) -> np.ndarray:
            return np.tile(np.array([0, 9, 1, 2, 8, 5, 7], np.float32), (len(queries.history), 1))

    # Case 1 (history: 4): cold order 6, 5, 3 -> target 3 at 2, target 5 at 1; case 2: 4, 6, 5, 3 -> 6 at 1.
    assert cold_target_ranks(Fixed(), cases, cold).tolist() == [2, 1, 1]


def test_cli_prints_each_method_and_window(tiny_release: Path, tmp_path: Path) -> None:
    result = run_module("benchmarks.cold_ranking", f"--data_dir={tiny_release}", f"--cache_dir={tmp_path}",
                        "--methods=popularity,new_in_genres")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(("popularity", "new_in_genres"))]
    assert [(r[0], r[1]) for r in rows] == [
        ("popularity", "validation"), ("popularity", "test"), ("new_in_genres", "validation"), ("new_in_genres", "test")
    ]  # fmt: skip
    assert "cold movies (no training rating)" in result.stdout
