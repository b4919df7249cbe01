"""pipelines.training.linear_member: the randomised SVD's known answers, the factors' EASE scores, the
(lambda, weight) grid scored as the served towers score and its choice; end to end, a trained folder with
a linear member scores and reloads as one."""

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
    """At a rank of every modelled movie the member's dot product is EASE's score over the history the query
    tower reads (its most recent HISTORY ratings), with the query vectors `history_sums` computes."""
    n = prepared.catalog.num_movies
    ease = linear.ease(prepared.split.train, n, 50.0, max_items=10_000, memory_gb=4.0)
    factors = linear_member.factorise(ease, n, rank=10_000)
    assert factors.rows.shape == (n + 1,) and factors.rows[0] == 0 and not factors.left[0].any()
    assert factors.left.shape == (len(ease.items) + 1, len(ease.items))
    items = np.flatnonzero(factors.rows)
    np.testing.assert_array_equal(items, ease.items)
    features = query_features(prepared.split.val.history, prepared.split.val.query_times, HISTORY)
    movies = features["history_movies"]
    np.testing.assert_allclose(
        linear_member.history_sums(factors, movies), factors.left[factors.rows[movies]].sum(axis=1), atol=1e-5
    )
    member = linear_member.history_sums(factors, movies) @ factors.right[factors.rows].T  # [B, n + 1]
    history = np.zeros((len(movies), len(ease.items)), np.float32)
    for r, row in enumerate(movies):
        kept = row[(row > 0) & (factors.rows[row] > 0)]
        history[r, factors.rows[kept] - 1] = 1.0
    np.testing.assert_allclose(member[:, items], history @ ease.weights, atol=2e-3)
    assert not member[:, factors.rows == 0].any()


def test_the_choice_takes_the_best_pair_ties_to_the_smaller_weight_then_the_first_lambda() -> None:
    assert linear_member.choose({(20.0, 0.0): 0.1, (20.0, 1.0): 0.3, (50.0, 1.0): 0.2}) == (20.0, 1.0)
    assert linear_member.choose({(20.0, 0.0): 0.1, (20.0, 2.0): 0.3, (50.0, 1.0): 0.3}) == (50.0, 1.0)
    assert linear_member.choose({(20.0, 1.0): 0.3, (50.0, 1.0): 0.3}) == (20.0, 1.0)
    assert linear_member.choose({(20.0, 0.0): 0.3, (20.0, 1.0): 0.3}) == (20.0, 0.0)


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
    assert report["validation"] == pytest.approx(metrics["validation"]["overall"]["recall@20"]["mean"], abs=1e-9)

    monkeypatch.setattr(linear_member, "SCALES", (0.0,))  # chosen 0: the towers serve alone
    metrics = train(prepared, run_config(tmp_path / "without", linear_rank=8))
    assert metrics["linear_member"]["weight"] == 0 and metrics["linear_member"]["ease_lambda"] is None
    assert not (tmp_path / "without" / LINEAR).exists()
    assert load(tmp_path / "without").candidates.shape[1] == 16


def served_means(query, candidate, factors, weight: float, prepared) -> dict[str, float]:
    """The evaluator's means for the towers with the member's columns appended at `weight` (what a folder
    serves)."""
    n = prepared.catalog.num_movies
    if weight > 0:
        query, candidate = factors.scaled(weight).towers(query, candidate)
    served = evaluate(TowerRecommender(query, candidate, n, HISTORY), prepared.split.val, n, prepared.train_counts)
    return served.means()


def test_every_pair_scores_as_the_evaluator_scores_the_towers_with_the_member(prepared, tmp_path: Path) -> None:
    """grid_scores (the towers' scores once, each member's added in numpy, the unmodelled movies ranked once)
    equals evaluating the towers with the member's columns appended (what the folder serves) on every
    metric at every (lambda, weight); weight 0 only once. Also with a member that models every movie."""
    train(prepared, run_config(tmp_path / "model", linear_rank=0))
    towers = restore_model(tmp_path / "model")
    query, candidate = towers.query_tower, towers.candidate_tower
    n, val = prepared.catalog.num_movies, prepared.split.val
    by_lambda = {
        lam: linear_member.factorise(linear.ease(prepared.split.train, n, lam, 10_000, 4.0), n, rank=6)
        for lam in (20.0, 500.0)
    }
    assert (by_lambda[20.0].rows[1:] == 0).any()  # movies EASE does not model: both lists are merged
    recommender = TowerRecommender(query, candidate, n, HISTORY)
    grid = linear_member.grid_scores(recommender, by_lambda, (0.0, 1.0, 4.0), val, batch_size=7)
    assert list(grid) == [(20.0, 0.0), (20.0, 1.0), (20.0, 4.0), (500.0, 1.0), (500.0, 4.0)]
    for (lam, weight), means in grid.items():
        served = served_means(query, candidate, by_lambda[lam], weight, prepared)
        assert means == pytest.approx({name: served[name] for name in means}, abs=1e-9), (lam, weight)
    assert len({means["recall@100"] for means in grid.values()}) > 1  # the member moves the ranking

    rng = np.random.default_rng(0)  # a member of every movie: no unmodelled list
    everyone = linear_member.LinearFactors(
        np.arange(n + 1, dtype=np.int32), *(np.vstack([np.zeros((1, 4)), rng.random((n, 4))]).astype(np.float32)
                                            for _ in range(2)),
    )  # fmt: skip
    grid = linear_member.grid_scores(recommender, {1.0: everyone}, (0.0, 3.0), val)
    for (_, weight), means in grid.items():
        served = served_means(query, candidate, everyone, weight, prepared)
        assert means == pytest.approx({name: served[name] for name in means}, abs=1e-9), weight


def test_a_sample_of_the_validation_cases_chooses_lambda_and_weight(prepared, tmp_path: Path, monkeypatch) -> None:
    """--linear_max_cases: every pair is scored on the seeded sample tuning.subsample draws, and the chosen
    pair's score is the served folder's on that sample."""
    val = prepared.split.val
    sample = subsample(val, len(val) // 2, seed=0)
    assert 0 < len(sample) < len(val)
    scored = []
    real = linear_member.grid_scores

    def spy(towers, by_lambda, weights, cases, *args, **kwargs):
        scored.append(cases)
        return real(towers, by_lambda, weights, cases, *args, **kwargs)

    monkeypatch.setattr(linear_member, "grid_scores", spy)
    monkeypatch.setattr(linear_member, "SCALES", (0.5, 2.0))  # a member is chosen, so the folder serves one
    metrics = train(prepared, run_config(tmp_path / "model", linear_rank=8, linear_max_cases=len(sample)))
    report = metrics["linear_member"]
    assert report["validation_cases"] == len(sample) and len(scored) == 1
    np.testing.assert_array_equal(scored[0].target_movies, sample.target_movies)
    np.testing.assert_array_equal(scored[0].query_times, sample.query_times)
    assert report["ease_lambda"] in linear_member.LAMBDAS and report["weight"] in (0.5, 2.0)
    assert set(report["validation_by_lambda"]) == {f"{lam:g}" for lam in linear_member.LAMBDAS}
    n, counts = prepared.catalog.num_movies, prepared.train_counts
    served = evaluate(load(tmp_path / "model"), sample, n, counts).means()["recall@20"]
    assert report["validation"] == pytest.approx(served, abs=1e-9)
    assert report["validation"] == max(v for scores in report["validation_by_lambda"].values() for v in scores.values())
    assert report["metric"] == "recall@20"
    with pytest.raises(ValueError, match="unknown metric 'coverage@10'"):
        linear_member.fit(None, None, prepared, 8, HISTORY, 1, "coverage@10")


def test_merged_top_lists_keep_the_evaluators_order(monkeypatch) -> None:
    """merge_top: score descending across both lists, equal scores to the lower movie, -inf slots empty."""
    monkeypatch.setattr(linear_member.metrics, "TOP_K", 4)
    inf = -np.inf
    a = (np.array([[7, 3, 0]]), np.array([[2.0, 1.0, inf]], np.float32))
    b = (np.array([[5, 9, 0]]), np.array([[2.0, 1.0, inf]], np.float32))
    np.testing.assert_array_equal(linear_member.merge_top(a, b), [[5, 7, 3, 9]])
    short = (np.array([[4, 0, 0]]), np.array([[0.5, inf, inf]], np.float32))
    np.testing.assert_array_equal(linear_member.merge_top(short, (np.zeros((1, 3), int), np.full((1, 3), inf))),
                                  [[4, 0, 0, 0]])  # fmt: skip
