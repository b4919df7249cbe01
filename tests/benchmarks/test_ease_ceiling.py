"""benchmarks.ease_ceiling: the truncated EASE, the standardised mix and its weight; the CLI runs end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.ease_ceiling import Mix, Rerank, chosen_weight, standardised, truncated_ease, truncated_factors
from pipelines.data.split import Interactions
from pipelines.evaluation.baselines.common import BELOW_EVERY_SCORE
from pipelines.evaluation.baselines.linear import EASE
from pipelines.evaluation.evaluator import Queries
from tests.conftest import run_module


def history_of(*rows: list[int]) -> Interactions:
    movies = np.array([m for row in rows for m in row], np.int32)
    offsets = np.cumsum([0, *(len(row) for row in rows)]).astype(np.int64)
    ones = np.ones(len(movies))
    return Interactions(np.arange(1, len(rows) + 1), offsets, movies, ones.astype(np.float32), ones.astype(np.int64))


def test_truncation_keeps_the_largest_singular_values() -> None:
    rng = np.random.default_rng(0)
    left, right = rng.normal(size=(40, 2)), rng.normal(size=(2, 40))
    rank_two = left @ right
    for rank in (2, 39):  # the sparse solver, then the full SVD
        u_s, vt = truncated_factors(rank_two, rank)
        np.testing.assert_allclose(u_s[:, :2] @ vt[:2], rank_two, atol=1e-4)
    u_s, vt = truncated_factors(np.diag([1.0, 5.0, 3.0, 0.5]), 2)  # singular values 5, 3 in that order
    np.testing.assert_allclose(u_s @ vt, np.diag([0.0, 5.0, 3.0, 0.0]), atol=1e-6)


def test_the_truncated_ease_scores_the_rank_k_weights() -> None:
    weights = np.array([[0, 4, 0], [0, 0, 2], [0, 0, 0]], np.float32)  # movie 1 -> 2 (4), movie 2 -> 3 (2)
    model = EASE(np.array([1, 2, 3]), weights, np.array([0, 3, 2, 1]))
    queries = Queries(history_of([1, 2]), np.zeros(1, np.int64))
    np.testing.assert_allclose(model.scores(queries)[0, 1:], [0.0, 4.0, 2.0])
    rank_one = truncated_ease(model, truncated_factors(weights, 1), 1)
    np.testing.assert_allclose(rank_one.scores(queries)[0, 1:], [0.0, 4.0, 0.0], atol=1e-5)  # the larger link only


def test_standardised_rows_leave_out_the_history_and_the_uncovered_movies() -> None:
    scores = np.array([[7.0, 1.0, 2.0, 9.0, BELOW_EVERY_SCORE]], np.float32)  # movie 3 in the history
    out = standardised(scores, history_of([3]))
    assert out[0, 0] == -np.inf and out[0, 3] == -np.inf
    np.testing.assert_allclose(out[0, 1:3], [-1.0, 1.0])  # mean 1.5, deviation 0.5 over movies 1 and 2
    assert out[0, 4] <= BELOW_EVERY_SCORE / 2


class Fixed:
    def __init__(self, row: list[float]) -> None:
        self.name, self.row = "fixed", np.array(row, np.float32)

    def scores(self, queries: Queries) -> np.ndarray:
        return np.tile(self.row, (len(queries.history), 1))


def test_the_mix_ranks_as_each_method_at_its_ends_and_between_them_in_the_middle() -> None:
    first, second = Fixed([0, 3, 2, 1, 0]), Fixed([0, 0, 1, 2, 3])
    queries = Queries(history_of([4]), np.zeros(1, np.int64))
    order = {w: np.argsort(-Mix(first, second, w).scores(queries)[0, 1:4]).tolist() for w in (0.0, 0.5, 1.0)}
    assert order[0.0] == [0, 1, 2] and order[1.0] == [2, 1, 0]
    assert Mix(first, second, 0.5).scores(queries)[0, 4] == -np.inf  # history stays out at every weight
    np.testing.assert_allclose(Mix(first, second, 0.5).scores(queries)[0, 1:4], 0.0, atol=1e-6)
    uncovered = Fixed([0, 3, 2, 1, 0, BELOW_EVERY_SCORE])  # movie 5: the first method does not score it
    wide = Queries(history_of([4]), np.zeros(1, np.int64))
    for weight in (0.0, 0.2, 0.65, 0.8):  # at every weight but 1 it stays below the movies both score
        assert Mix(uncovered, Fixed([0, 0, 1, 2, 3, 9]), weight).scores(wide)[0, 5] == BELOW_EVERY_SCORE
    assert np.argmax(Mix(uncovered, Fixed([0, 0, 1, 2, 3, 9]), 1.0).scores(wide)[0]) == 5  # the second alone


def test_the_second_stage_reorders_only_the_first_stages_top_n() -> None:
    first, second = Fixed([0, 5, 4, 3, 2, 1]), Fixed([0, 1, 2, 3, 4, 9])  # movie 5: second's best, first's last
    queries = Queries(history_of([2]), np.zeros(1, np.int64))
    scores = Rerank(first, second, 2).scores(queries)[0]
    assert scores[2] == -np.inf and scores[0] == -np.inf  # the history and the padding stay out
    assert np.argsort(-scores[1:])[:4].tolist() == [2, 0, 3, 4]  # top 2 of first (1, 3) in second's order, then first's
    everything = Rerank(first, second, 5).scores(queries)[0]
    assert np.argsort(-everything[1:])[:4].tolist() == [4, 3, 2, 0]  # depth >= catalog: second's order


def test_the_weight_is_the_best_on_validation_ties_to_the_smaller() -> None:
    assert chosen_weight({0.0: 0.1, 0.5: 0.3, 1.0: 0.2}) == 0.5
    assert chosen_weight({0.0: 0.1, 0.5: 0.3, 0.8: 0.3}) == 0.5


def test_cli_prints_ease_its_ranks_and_the_reranked_mix(tiny_release: Path, trained_model: Path) -> None:
    cache = trained_model.parent / "cache"
    flags = ["--ranks=4,8", "--weights=0,1", "--rerank_depth=5", f"--model_dirs={trained_model}"]
    result = run_module("benchmarks.ease_ceiling", f"--data_dir={tiny_release}", f"--cache_dir={cache}", *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert "EASE" in names and "ease" in names
    assert "ease rank 4" in result.stdout and "ease rank 8" in result.stdout
    assert "the model alone" in result.stdout and "over its top 5, w" in result.stdout


def test_cli_bad_flags_exit_2_naming_the_flag(tmp_path: Path) -> None:
    for flag, named in (
        ("--weights=0,1.5", "--weights"),
        ("--ranks=4,x", "--ranks"),
        ("--rerank_depth=-1", "rerank_depth"),
    ):
        result = run_module("benchmarks.ease_ceiling", "--synthetic=tiny", f"--cache_dir={tmp_path}", flag)
        assert result.returncode == 2, (flag, result.stderr[-2000:])
        assert "error:" in result.stderr and named in result.stderr and "Traceback" not in result.stderr
