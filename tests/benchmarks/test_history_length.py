"""benchmarks.history_length: the history cut keeps each case's most recent ratings; the CLI runs end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.history_length import CutHistory, last_ratings
from pipelines.data.split import Interactions
from pipelines.evaluation.evaluator import Queries
from tests.conftest import run_module


def test_the_cut_keeps_the_most_recent_ratings_of_each_history() -> None:
    history = Interactions(
        user_ids=np.array([7, 8, 9]),
        offsets=np.array([0, 4, 4, 6], np.int64),  # 4 ratings, none (a cold user), 2
        movies=np.array([1, 2, 3, 4, 5, 6], np.int32),
        ratings=np.arange(6, dtype=np.float32),
        timestamps=np.arange(6, dtype=np.int64) * 10,
    )
    cut = last_ratings(history, 2)
    assert cut.offsets.tolist() == [0, 2, 2, 4] and cut.user_ids.tolist() == [7, 8, 9]
    assert cut.movies.tolist() == [3, 4, 5, 6] and cut.timestamps.tolist() == [20, 30, 40, 50]
    assert last_ratings(history, 0) is history

    class Seen:  # scores each movie by how often the history holds it
        name = "seen"

        def scores(self, queries: Queries) -> np.ndarray:
            out = np.zeros((len(queries.history), 7), np.float32)
            for row in range(len(queries.history)):
                start, end = queries.history.offsets[row : row + 2]
                out[row, queries.history.movies[start:end]] += 1
            return out

    scores = CutHistory(Seen(), 2).scores(Queries(history, np.zeros(3, np.int64)))
    assert scores.tolist() == [[0, 0, 0, 1, 1, 0, 0], [0] * 7, [0, 0, 0, 0, 0, 1, 1]]
    assert CutHistory(Seen(), 2).name == "seen"


def test_cli_prints_each_method_at_each_length(tiny_release: Path, tmp_path: Path) -> None:
    result = run_module("benchmarks.history_length", f"--data_dir={tiny_release}", f"--cache_dir={tmp_path}",
                        "--methods=popularity,ease", "--lengths=5,0")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(("popularity", "ease"))]
    assert [(r[0], r[1]) for r in rows] == [("popularity", "5"), ("popularity", "all"), ("ease", "5"), ("ease", "all")]
    assert rows[0][2:] == rows[1][2:]  # popularity ignores the history
