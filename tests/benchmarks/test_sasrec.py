"""benchmarks.sasrec: training windows and query windows hold the right ratings; the model is causal; the CLI
trains and scores end to end and refuses bad flags with exit code 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from benchmarks.sasrec import SASRec, last_window, windows
from pipelines.data.split import Interactions
from tests.conftest import run_module


def history(rows: list[list[int]]) -> Interactions:
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    movies = np.concatenate([np.array(r, np.int32) for r in rows])
    return Interactions(np.arange(len(rows)) + 1, offsets, movies, movies.astype(np.float32) / 2,
                        np.arange(len(movies), dtype=np.int64))  # fmt: skip


def test_windows_cut_each_user_from_the_newest_end_and_overlap_by_one_rating() -> None:
    slots = np.arange(10, dtype=np.int32) * 10  # movie m -> slot 10 m: shows that slots, not movies, are kept
    items, ratings = windows(history([[1, 2, 3, 4, 5, 6], [7], [8, 9]]), slots, length=3)
    assert items.tolist() == [[30, 40, 50, 60], [0, 10, 20, 30], [0, 0, 80, 90]]  # the user of one rating: none
    assert ratings[0].tolist() == [1.5, 2.0, 2.5, 3.0] and ratings[1, 0] == 0


def test_last_window_keeps_the_most_recent_ratings_left_padded() -> None:
    slots = np.arange(10, dtype=np.int32)
    items, ratings = last_window(history([[1, 2, 3, 4], [], [5]]), slots, length=3)
    assert items.tolist() == [[2, 3, 4], [0, 0, 0], [0, 0, 5]]
    assert ratings[2].tolist() == [0.0, 0.0, 2.5]


def test_a_position_never_sees_a_later_rating() -> None:
    model = SASRec(num_slots=20, length=5, dim=8, blocks=2, heads=2, dropout=0.0)
    items = tf.constant([[0, 3, 4, 5, 6]])
    ratings = tf.constant([[0.0, 4.0, 3.0, 5.0, 1.0]])
    changed = tf.constant([[0, 3, 4, 9, 7]])  # positions 3 and 4 differ
    before, after = model(items, ratings).numpy(), model(changed, ratings).numpy()
    np.testing.assert_allclose(before[0, :3], after[0, :3], atol=1e-6)
    assert np.abs(before[0, 3:] - after[0, 3:]).max() > 1e-4


def test_cli_trains_and_scores_both_windows(tiny_release: Path, tmp_path: Path) -> None:
    result = run_module("benchmarks.sasrec", f"--data_dir={tiny_release}", f"--cache_dir={tmp_path}",
                        "--sasrec_epochs=2", "--sasrec_eval_every=1", "--sasrec_max_length=20",
                        "--sasrec_dim=8", "--sasrec_blocks=1")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 2
    scored = [line for line in lines if line.startswith(("validation:", "test:"))]
    assert len(scored) == 2 and all("recall@20 0." in line for line in scored)


def test_bad_flags_exit_2_with_one_line(tiny_release: Path, tmp_path: Path) -> None:
    result = run_module("benchmarks.sasrec", f"--data_dir={tiny_release}", f"--cache_dir={tmp_path}",
                        "--sasrec_dim=8", "--sasrec_heads=3")  # fmt: skip
    assert result.returncode == 2 and "--sasrec_heads (3) must divide --sasrec_dim (8)" in result.stderr
    assert "Traceback" not in result.stderr
