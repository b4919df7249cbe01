"""benchmarks.seed_ensemble: the ensemble is the concatenated towers' dot product; the CLI runs end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.seed_ensemble import Ensemble
from pipelines.data.split import Interactions
from pipelines.evaluation.evaluator import Queries
from tests.conftest import run_module


class Member:
    """A two-tower stand-in: scores = fixed query embeddings . candidate embeddings."""

    def __init__(self, queries: np.ndarray, candidates: np.ndarray) -> None:
        self.name, self.queries, self.candidates = "member", queries, candidates

    def scores(self, queries: Queries) -> np.ndarray:
        del queries
        return self.queries @ self.candidates.T


def test_the_ensemble_scores_the_members_embeddings_concatenated() -> None:
    rng = np.random.default_rng(0)
    members = [Member(rng.normal(size=(3, 4)), rng.normal(size=(6, 4))) for _ in range(3)]
    one = Interactions(np.arange(1, 4), np.arange(4, dtype=np.int64), np.ones(3, np.int32), np.ones(3, np.float32),
                       np.ones(3, np.int64))  # fmt: skip
    scores = Ensemble(members).scores(Queries(one, np.zeros(3, np.int64)))
    queries, candidates = (np.concatenate([getattr(m, part) for m in members], 1) for part in ("queries", "candidates"))
    concatenated = queries @ candidates.T
    np.testing.assert_allclose(scores, concatenated, rtol=1e-5)
    assert not np.allclose(scores, members[0].scores(None))


def test_cli_prints_each_member_and_the_ensemble(tiny_release: Path, trained_model: Path) -> None:
    cache = trained_model.parent / "cache"
    dirs = f"--model_dirs={trained_model},{trained_model}"  # a model with itself: the same ranking, the same figures
    result = run_module("benchmarks.seed_ensemble", f"--data_dir={tiny_release}", f"--cache_dir={cache}", dirs)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith((str(trained_model), "ensemble"))]
    assert len(lines) == 3 and lines[-1].startswith("ensemble")
    figures = [line.split(maxsplit=1)[1] for line in lines]
    assert figures[0] == figures[1] == figures[2]


def test_cli_one_model_is_refused_naming_the_flag(tmp_path: Path) -> None:
    result = run_module("benchmarks.seed_ensemble", "--synthetic=tiny", f"--cache_dir={tmp_path}", "--model_dirs=a")
    assert result.returncode == 2
    assert "error:" in result.stderr and "--model_dirs" in result.stderr and "Traceback" not in result.stderr
