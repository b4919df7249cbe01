"""Popularity features as of a time: ratings strictly earlier, time since the first rating; as of T_val
they are the towers' fixed table, and a movie's first rating sees what a never-rated movie shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.data.prepared import PrepareConfig, build
from pipelines.data.split import Interactions
from pipelines.training.config import InputConfig
from pipelines.training.input import training_dataset
from pipelines.training.popularity import popularity_columns, ratings_before
from pipelines.training.tables import popularity_features
from towers.layers import SECONDS_PER_YEAR


@pytest.fixture(scope="module")
def prepared(tiny_release: Path):
    return build(tiny_release, PrepareConfig())


def test_ratings_before_counts_the_earlier_ratings_of_the_same_movie() -> None:
    # Two users; movie 1 rated at 10 (user 0), 5 (user 1) and 10 (user 1, a tie broken by position);
    # movie 2 once.
    train = Interactions(
        user_ids=np.array([7, 8]),
        offsets=np.array([0, 2, 5]),
        movies=np.array([1, 2, 1, 3, 1], np.int32),
        ratings=np.ones(5, np.float32),
        timestamps=np.array([10, 20, 5, 7, 10], np.int64),
    )
    before, first = ratings_before(train)
    np.testing.assert_array_equal(before, [1, 0, 0, 0, 2])
    np.testing.assert_array_equal(first[1:], [5, 20, 7])


def test_known_values_and_a_first_rating_looks_like_a_never_rated_movie() -> None:
    got = popularity_columns(np.array([0, 9]), np.array([0, int(2 * SECONDS_PER_YEAR)])).numpy()
    np.testing.assert_allclose(got[0], [0, 0, 0])
    np.testing.assert_allclose(got[1], [np.log1p(9) / 10, 0.2, np.log1p(4.5) / 10], rtol=1e-6)
    short = popularity_columns(np.array([3]), np.array([0])).numpy()  # under a month: a month's rate
    np.testing.assert_allclose(short[0, 2], np.log1p(36) / 10, rtol=1e-6)


def test_the_table_is_the_features_as_of_t_val(prepared) -> None:
    train, t_val = prepared.split.train, prepared.split.t_val
    table = popularity_features(prepared)
    counts = np.bincount(train.movies, minlength=len(table))
    np.testing.assert_allclose(table[counts == 0], 0)
    before, first = ratings_before(train)
    latest = np.zeros(len(table), np.int64)  # what each movie's latest training rating saw before it
    np.maximum.at(latest, train.movies, before)
    rated = np.flatnonzero(counts > 0)
    # as of T_val: one more rating than the latest one saw, first rated as long ago as T_val - first
    np.testing.assert_allclose(
        popularity_columns(latest[rated] + 1, t_val - first[rated]).numpy(), table[rated], rtol=1e-6
    )


@pytest.mark.parametrize("chunk_length", [0, 8])
def test_training_batches_carry_the_targets_popularity_as_of_their_time(prepared, chunk_length: int) -> None:
    train = prepared.split.train
    positives = "liked" if chunk_length == 0 else "weighted"
    config = InputConfig(
        batch_size=64, chunk_length=chunk_length, positives=positives, popularity_as_of=True, hide_new_ids=3
    )
    dataset, _ = training_dataset(train, config)
    batch = {k: v.numpy() for k, v in next(iter(dataset)).items()}
    targets, times = batch["target"].reshape(-1), batch["query_timestamp"].reshape(-1)
    got, new = batch["target_popularity"].reshape(-1, 3), batch["target_new"].reshape(-1)
    checked = 0
    for row in range(len(targets)):
        stamps = train.timestamps[train.movies == targets[row]]
        if np.sum(stamps == times[row]) > 1:  # a tie with another user's rating of the movie at that second
            continue
        earlier = np.sum(stamps < times[row])
        expected = popularity_columns(np.array([earlier]), np.array([times[row] - stamps.min()])).numpy()[0]
        np.testing.assert_allclose(got[row], expected, rtol=1e-6, atol=1e-7)
        assert new[row] == (earlier < 3)
        checked += 1
    assert checked > len(targets) // 2
    plain = next(iter(training_dataset(train, InputConfig(batch_size=64))[0]))
    assert "target_popularity" not in plain and "target_new" not in plain


def test_hide_new_days_marks_the_targets_within_that_many_days_of_their_movies_first_rating(prepared) -> None:
    train = prepared.split.train
    config = InputConfig(batch_size=256, chunk_length=0, positives="liked", hide_new_days=60)
    batch = {k: v.numpy() for k, v in next(iter(training_dataset(train, config)[0])).items()}
    targets, times, new = batch["target"], batch["query_timestamp"], batch["target_new"]
    first = np.array([train.timestamps[train.movies == movie].min() for movie in targets])
    np.testing.assert_array_equal(new, times - first < 60 * 86_400)
    assert new.any() and not new.all()
