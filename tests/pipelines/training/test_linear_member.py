"""pipelines.training.linear_member: the randomised SVD's known answers, the factors' EASE scores, and the
weight chosen on validation; end to end, a trained folder with a linear member scores and reloads as one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.data.prepared import PrepareConfig, build
from pipelines.evaluation.baselines import linear
from pipelines.evaluation.evaluator import evaluate
from pipelines.evaluation.tuning import subsample
from pipelines.training import linear_member
from pipelines.training.config import InputConfig, RunConfig, TrainConfig
from pipelines.training.input import query_features
from pipelines.training.loop import train
from pipelines.training.model_dir import LINEAR, load_linear, restore_model
from pipelines.training.recommender import TowerRecommender, load
from towers.config import GenomeConfig, TowerConfig

HISTORY = 10


@pytest.fixture(scope="module")
def prepared(tiny_release: Path):
    return build(tiny_release, PrepareConfig())


def test_low_rank_recovers_a_low_rank_matrix_and_truncates_as_the_svd_does() -> None:
    rng = np.random.default_rng(0)
    exact = (rng.standard_normal((60, 3)) @ rng.standard_normal((3, 60))).astype(np.float32)
    left, right = linear_member.low_rank(exact, 3)
    assert left.shape == right.shape == (60, 3)
    np.testing.assert_allclose(left @ right.T, exact, atol=1e-3)
    u, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    v, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    spectrum = 0.8 ** np.arange(60)
    full = ((u * spectrum) @ v.T).astype(np.float32)
    left, right = linear_member.low_rank(full, 5)
    np.testing.assert_allclose(left @ right.T, (u[:, :5] * spectrum[:5]) @ v[:, :5].T, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(right, axis=0), 1.0, rtol=1e-4)  # R = V: unit columns


def test_full_rank_factors_score_as_ease_does(prepared) -> None:
    """At a rank of every modelled movie the member's dot product is EASE's score, with the lambda chosen on
    validation, over the history the query tower reads (its most recent HISTORY ratings)."""
    factors, report = linear_member.fit_factors(prepared, rank=10_000)
    assert report["ease_lambda"] in linear_member.LAMBDAS and report["rank"] == report["items"]
    n = prepared.catalog.num_movies
    assert factors.rows.shape == (n + 1,) and factors.rows[0] == 0 and not factors.left[0].any()
    items = np.flatnonzero(factors.rows)
    ease = linear.ease(prepared.split.train, n, report["ease_lambda"], max_items=10_000, memory_gb=4.0)
    np.testing.assert_array_equal(items, ease.items)
    features = query_features(prepared.split.val.history, prepared.split.val.query_times, HISTORY)
    movies = features["history_movies"]
    member = factors.left[factors.rows[movies]].sum(axis=1) @ factors.right[factors.rows].T  # [B, n + 1]
    history = np.zeros((len(movies), len(ease.items)), np.float32)
    for r, row in enumerate(movies):
        kept = row[(row > 0) & (factors.rows[row] > 0)]
        history[r, factors.rows[kept] - 1] = 1.0
    np.testing.assert_allclose(member[:, items], history @ ease.weights, atol=2e-3)
    assert not member[:, factors.rows == 0].any()


def run_config(model_dir: Path, linear_rank: int, linear_max_cases: int = 0) -> RunConfig:
    return RunConfig(
        input=InputConfig(history_length=HISTORY, batch_size=128),
        towers=TowerConfig(
            embedding_dim=16, id_dim=16, hidden=32, linear_rank=linear_rank, linear_max_cases=linear_max_cases
        ),
        genome=GenomeConfig(genome_encoder="pca", bottleneck=8),
        train=TrainConfig(model_dir=str(model_dir), epochs=1, steps_per_execution=4, export=False),
    )


def test_a_trained_folder_serves_its_linear_member_and_validation_chooses_its_weight(
    prepared, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(linear_member, "SCALES", (0.5,))
    metrics = train(prepared, run_config(tmp_path / "with", linear_rank=8))
    report = metrics["linear_member"]
    assert report["weight"] == 0.5 and report["rank"] == 8 and (tmp_path / "with" / LINEAR).exists()
    factors = load_linear(tmp_path / "with")
    reloaded = load(tmp_path / "with")
    assert reloaded.candidates.shape[1] == 16 + 8
    towers = restore_model(tmp_path / "with")  # the towers alone, and the member's columns beside them
    alone = TowerRecommender(towers.query_tower, towers.candidate_tower, prepared.catalog.num_movies, HISTORY)
    np.testing.assert_allclose(reloaded.candidates[:, :16], alone.candidates, rtol=1e-6)
    np.testing.assert_allclose(reloaded.candidates[:, 16:], factors.right[factors.rows], rtol=1e-6)
    num_movies, counts = prepared.catalog.num_movies, prepared.train_counts
    for window, cases in (("validation", prepared.split.val), ("test", prepared.split.test)):
        again = evaluate(reloaded, cases, num_movies, counts).overall["recall@20"]["mean"]
        assert metrics[window]["overall"]["recall@20"]["mean"] == pytest.approx(again, abs=1e-6), window
    assert report["validation_by_weight"]["0.5"] == pytest.approx(metrics["validation"]["overall"]["recall@20"]["mean"])

    monkeypatch.setattr(linear_member, "SCALES", (0.0,))  # chosen 0: the towers serve alone
    metrics = train(prepared, run_config(tmp_path / "without", linear_rank=8))
    assert metrics["linear_member"]["weight"] == 0 and not (tmp_path / "without" / LINEAR).exists()
    assert load(tmp_path / "without").candidates.shape[1] == 16


def test_the_weight_is_chosen_on_validation_first_of_ties(prepared, tmp_path: Path, monkeypatch) -> None:
    """A member whose columns are zeros scores the same at every weight: the first (smallest) is chosen."""
    monkeypatch.setattr(linear_member, "SCALES", (0.0, 1.0, 2.0))
    model = train(prepared, run_config(tmp_path / "model", linear_rank=0))
    assert model["epochs_run"] == 1
    towers = restore_model(tmp_path / "model")
    n = prepared.catalog.num_movies
    zeros = linear_member.LinearFactors(np.zeros(n + 1, np.int32), np.zeros((1, 4), np.float32),
                                        np.zeros((1, 4), np.float32))  # fmt: skip
    scale, scores = linear_member.choose_scale(towers.query_tower, towers.candidate_tower, zeros, prepared, HISTORY,
                                               members=1, metric="recall@20")  # fmt: skip
    assert scale == 0.0 and len(set(scores.values())) == 1 and list(scores) == ["0", "1", "2"]


def test_a_sample_of_the_validation_cases_chooses_lambda_and_weight(prepared, tmp_path: Path, monkeypatch) -> None:
    """--linear_max_cases: lambda and every weight are scored on the seeded sample tuning.subsample draws
    (the same cases for both choices), as a training run fits the member."""
    val = prepared.split.val
    sample = subsample(val, len(val) // 2, seed=0)
    assert 0 < len(sample) < len(val)
    scored = []
    real = linear_member.evaluate

    def spy(recommender, cases, *args):
        scored.append(cases)
        return real(recommender, cases, *args)

    monkeypatch.setattr(linear_member, "evaluate", spy)
    metrics = train(prepared, run_config(tmp_path / "model", linear_rank=8, linear_max_cases=len(sample)))
    report = metrics["linear_member"]
    assert report["validation_cases"] == len(sample)
    n, counts = prepared.catalog.num_movies, prepared.train_counts
    ease = linear.ease(prepared.split.train, n, report["ease_lambda"], max_items=10_000, memory_gb=4.0)
    assert report["ease_validation_recall@20"] == pytest.approx(real(ease, sample, n, counts).means()["recall@20"])
    assert len(scored) == len(linear_member.SCALES)
    for cases in scored:
        np.testing.assert_array_equal(cases.target_movies, sample.target_movies)
        np.testing.assert_array_equal(cases.query_times, sample.query_times)
    assert linear_member.fit_factors(prepared, rank=8)[1]["validation_cases"] == len(val)
