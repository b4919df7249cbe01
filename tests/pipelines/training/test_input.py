"""Training examples: history strictly before the target, same user, nothing at or after T_val; the chunked
layout holds exactly the examples of the independent one and trains the same query tower."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.data.prepared import PrepareConfig, build
from pipelines.data.split import Interactions
from pipelines.training.config import InputConfig, TrainConfig
from pipelines.training.input import query_features, target_positions, training_dataset
from pipelines.training.model_dir import build_model
from pipelines.training.tables import movie_tables
from towers.config import GenomeConfig, TowerConfig


@pytest.fixture(scope="module")
def prepared(tiny_release: Path):
    return build(tiny_release, PrepareConfig())


def batches(train: Interactions, config: InputConfig, count: int) -> list[dict]:
    dataset, _ = training_dataset(train, config)
    return [{k: v.numpy() for k, v in b.items()} for b in dataset.take(count)]


def test_examples_never_contain_a_rating_at_or_after_t_val_nor_the_target(prepared) -> None:
    train, t_val = prepared.split.train, prepared.split.t_val
    config = InputConfig(history_length=20, batch_size=256, chunk_length=0)
    _, steps = training_dataset(train, config)
    # Map each (user row) to its set of (movie, timestamp) pairs to check membership.
    user_of = np.repeat(np.arange(len(train)), train.lengths)
    pair_user = {(int(m), int(t)): int(u) for m, t, u in zip(train.movies, train.timestamps, user_of, strict=True)}
    seen_targets = 0
    for batch in batches(train, config, steps):
        valid = batch["history_movies"] > 0
        assert batch["query_timestamp"].max() < t_val
        assert np.all(batch["history_timestamps"][valid] < t_val)
        assert np.all(
            batch["history_timestamps"][valid] <= np.broadcast_to(batch["query_timestamp"][:, None], valid.shape)[valid]
        )
        assert not np.any((batch["history_movies"] == batch["target"][:, None]) & valid)
        for row in range(len(batch["target"])):
            user = pair_user[(int(batch["target"][row]), int(batch["query_timestamp"][row]))]
            for movie, stamp in zip(
                batch["history_movies"][row][valid[row]], batch["history_timestamps"][row][valid[row]], strict=True
            ):
                assert pair_user[(int(movie), int(stamp))] == user  # never another user's rating
            stamps = batch["history_timestamps"][row][valid[row]]
            assert np.all(np.diff(stamps) <= 0)  # most recent first
        seen_targets += len(batch["target"])
    assert seen_targets == steps * config.batch_size


def test_history_is_the_exact_previous_ratings(prepared) -> None:
    train = prepared.split.train
    config = InputConfig(history_length=5, batch_size=64, chunk_length=0)
    batch = batches(train, config, 1)[0]
    user_of = np.repeat(np.arange(len(train)), train.lengths)
    for row in range(10):
        position = np.flatnonzero(
            (train.movies == batch["target"][row]) & (train.timestamps == batch["query_timestamp"][row])
        )[0]
        start = train.offsets[user_of[position]]
        expected = train.movies[max(start, position - 5) : position][::-1]
        got = batch["history_movies"][row]
        np.testing.assert_array_equal(got[: len(expected)], expected)
        assert np.all(got[len(expected) :] == 0)


def test_same_seed_same_batches_other_seed_other_batches(prepared) -> None:
    train = prepared.split.train
    a = batches(train, InputConfig(batch_size=128, seed=3), 2)
    b = batches(train, InputConfig(batch_size=128, seed=3), 2)
    c = batches(train, InputConfig(batch_size=128, seed=4), 2)
    assert "history_mask" in a[0]  # chunks are the default layout
    np.testing.assert_array_equal(a[1]["target"], b[1]["target"])
    assert not np.array_equal(a[0]["target"], c[0]["target"])


def test_positives_choice(prepared) -> None:
    train = prepared.split.train
    liked = target_positions(train, "liked")
    assert np.all(train.ratings[liked] >= 4.0) and len(liked) < len(train.movies)
    weighted = batches(train, InputConfig(batch_size=64, positives="weighted", chunk_length=0), 1)[0]
    assert weighted["weight"].min() >= 0.1 and weighted["weight"].max() <= 1.0 and weighted["weight"].std() > 0
    with pytest.raises(ValueError, match="positives"):
        target_positions(train, "loved")


def test_query_features_take_the_most_recent_history(prepared) -> None:
    cases = prepared.split.val
    features = query_features(cases.history, cases.query_times, 3)
    for c in range(len(cases)):
        movies = cases.history.row(c)[0]
        expected = movies[::-1][:3]
        np.testing.assert_array_equal(features["history_movies"][c][: len(expected)], expected)
        assert np.all(features["history_timestamps"][c][: len(expected)] <= cases.query_times[c])


def unchunk(batch: dict, history_length: int) -> dict:
    """A chunk batch as independent examples: each target's history band, most recent first, padded."""
    chunks, length = batch["target"].shape
    out = {name: np.zeros((chunks * length, history_length), batch[f"context_{name}"].dtype)
           for name in ("movies", "ratings", "timestamps")}  # fmt: skip
    for c in range(chunks):
        for i in range(length):
            band = np.flatnonzero(batch["history_mask"][c, i])[::-1]
            for name, values in out.items():
                values[c * length + i, : len(band)] = batch[f"context_{name}"][c, band]
    return {
        "history_movies": out["movies"],
        "history_ratings": out["ratings"],
        "history_timestamps": out["timestamps"],
        **{k: batch[k].reshape(-1) for k in ("target", "query_timestamp", "weight", "user")},
    }


def test_chunks_hold_every_rating_once_with_its_exact_history(prepared) -> None:
    train, t_val = prepared.split.train, prepared.split.t_val
    config = InputConfig(history_length=6, batch_size=64, chunk_length=8)
    dataset, steps = training_dataset(train, config)
    user_of = np.repeat(np.arange(len(train)), train.lengths)
    position_of = {(int(u), int(m)): p for p, (u, m) in enumerate(zip(user_of, train.movies, strict=True))}
    seen = []
    for batch in dataset.take(steps):
        examples = unchunk({k: v.numpy() for k, v in batch.items()}, config.history_length)
        real = examples["weight"] > 0
        assert examples["query_timestamp"].max() < t_val and examples["history_timestamps"].max() < t_val
        for row in np.flatnonzero(real):
            user = int(np.searchsorted(train.offsets, examples["user"][row], side="right") - 1)
            position = position_of[(user, int(examples["target"][row]))]
            assert train.timestamps[position] == examples["query_timestamp"][row]
            start = max(train.offsets[user], position - config.history_length)
            expected = train.movies[start:position][::-1]  # the exact previous ratings of the same user
            got = examples["history_movies"][row]
            np.testing.assert_array_equal(got[: len(expected)], expected)
            assert np.all(got[len(expected) :] == 0)
            seen.append(position)
    # One epoch: every position of the chunks it covers exactly once (the last, partial batch is dropped).
    assert len(seen) == len(set(seen)) and len(seen) >= len(train.movies) - config.batch_size


def test_chunks_train_the_same_query_tower_as_independent_examples(prepared) -> None:
    tables, _ = movie_tables(prepared, GenomeConfig(genome_encoder="none"), seed=0)
    model = build_model(tables, TowerConfig(embedding_dim=16), TrainConfig(), None)
    config = InputConfig(history_length=5, batch_size=32, chunk_length=8)
    batch = {k: v.numpy() for k, v in next(iter(training_dataset(prepared.split.train, config)[0])).items()}
    chunked = model.query_tower.call_on_chunks(batch).numpy()
    independent = model.query_tower(unchunk(batch, config.history_length)).numpy()
    np.testing.assert_allclose(chunked, independent, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="multiple of chunk_length"):
        training_dataset(prepared.split.train, InputConfig(batch_size=30, chunk_length=8))
    with pytest.raises(ValueError, match="liked"):
        training_dataset(prepared.split.train, InputConfig(batch_size=32, chunk_length=8, positives="liked"))
