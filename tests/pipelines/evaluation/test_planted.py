"""The planted oracle: it reads the generator's truth, and on a synthetic release it beats every baseline
by a wide margin (its answer is known by construction: it scores with the model that drew the ratings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.data.errors import DataError
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.evaluation import planted
from pipelines.evaluation.baselines import popularity
from pipelines.evaluation.evaluator import batches, evaluate


def test_the_oracle_is_the_ceiling_on_the_small_release(small_release: Path, tmp_path: Path) -> None:
    prepared = prepare(PrepareConfig(data_dir=str(small_release), cache_dir=str(tmp_path)), progress=False)
    split, n = prepared.split, prepared.catalog.num_movies
    oracle = planted.load_oracle(prepared.figures["data_dir"], prepared.catalog)
    _, first = next(batches(split.val, 64))
    scores = oracle.scores(first)
    assert scores.shape == (64, n + 1) and scores.dtype == np.float32
    assert np.isfinite(scores[:, 1:]).all() and (scores[:, 0] == -np.inf).all()
    unreleased = oracle.release[None, :] > first.query_times[:, None]
    assert unreleased.any() and (scores[:, 1:][unreleased] < scores[:, 1:][~unreleased].min()).all()

    oracle_recall = evaluate(oracle, split.val, n, prepared.train_counts).means()["recall@20"]
    pop = popularity.popularity(split.train, n)
    pop_recall = evaluate(pop, split.val, n, prepared.train_counts).means()["recall@20"]
    assert oracle_recall > pop_recall + 0.05, (oracle_recall, pop_recall)

    # Knowing the movies but reading the user from the history: between popularity and the full oracle.
    history_taste = planted.HistoryTasteOracle(oracle)
    assert np.isfinite(history_taste.scores(first)[:, 1:]).all()
    history_recall = evaluate(history_taste, split.val, n, prepared.train_counts).means()["recall@20"]
    assert pop_recall < history_recall < oracle_recall, (pop_recall, history_recall, oracle_recall)


def test_a_release_without_planted_truth(hand_release: Path, tmp_path: Path) -> None:
    prepared = prepare(PrepareConfig(data_dir=str(hand_release), cache_dir=str(tmp_path)), progress=False)
    assert not planted.has_planted_truth(prepared.figures["data_dir"])
    assert not planted.has_planted_truth(None)
    with pytest.raises(DataError, match="planted truth"):
        planted.load_oracle(prepared.figures["data_dir"], prepared.catalog)
