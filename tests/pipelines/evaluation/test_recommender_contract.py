"""The contract every Recommender keeps, checked on each baseline, the planted oracles and the trained model:
[B, n + 1] finite scores, the same answer twice, an empty history answered, and (through the evaluator)
a query's own history never ranked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.evaluation import planted
from pipelines.evaluation.baselines import registry
from pipelines.evaluation.baselines.content import MovieContent
from pipelines.evaluation.baselines.registry import BaselineConfig
from pipelines.evaluation.evaluator import Queries, Recommender, batches, rank

SMALL = BaselineConfig(knn_neighbors=20, ease_max_items=300, ials_factors=8, ials_iterations=3)


@pytest.fixture(scope="module")
def prepared(export_prepared):
    return export_prepared  # the tiny synthetic release, the trained model's data


def first_queries(prepared, count: int = 16) -> Queries:
    return next(batches(prepared.split.val, batch_size=count))[1]


def with_empty_history(queries: Queries) -> Queries:
    history = queries.history
    offsets = np.zeros_like(history.offsets)
    empty = type(history)(history.user_ids, offsets, history.movies[:0], history.ratings[:0], history.timestamps[:0])
    return Queries(empty, queries.query_times)


def check_contract(recommender: Recommender, prepared) -> None:
    n = prepared.catalog.num_movies
    queries = first_queries(prepared)
    scores = recommender.scores(queries)
    assert scores.shape == (len(queries.query_times), n + 1)
    assert np.isfinite(scores[:, 1:]).all()
    np.testing.assert_array_equal(recommender.scores(queries), scores)  # deterministic
    cold = recommender.scores(with_empty_history(queries))
    assert cold.shape == scores.shape and np.isfinite(cold[:, 1:]).all()
    top = rank(recommender, prepared.split.val)
    history = prepared.split.val.history
    for row in range(len(top)):
        own = history.movies[history.offsets[row] : history.offsets[row + 1]]
        assert not np.isin(top[row], own).any(), f"case {row} ranks its own history"
        assert 0 not in top[row]


@pytest.mark.parametrize("name", registry.NAMES)
def test_every_baseline_keeps_the_contract(prepared, name: str) -> None:
    split = prepared.split
    content = MovieContent.of(prepared.catalog)
    recommender = registry.fit(name, split.train, prepared.catalog.num_movies, split.t_val, SMALL, 0, content)
    check_contract(recommender, prepared)


def test_the_planted_oracles_keep_the_contract(prepared, tiny_release: Path) -> None:
    oracle = planted.load_oracle(str(tiny_release), prepared.catalog)
    check_contract(oracle, prepared)
    check_contract(planted.HistoryTasteOracle(oracle), prepared)


def test_the_trained_model_keeps_the_contract(trained_model: Path, export_prepared) -> None:
    from pipelines.training.recommender import load

    check_contract(load(trained_model), export_prepared)
