"""Each in-batch negative layer against a hand-computed mask, survives a get_config round trip, and their
combination always keeps a query's own positive."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from towers import negatives


def round_trip(layer: keras.layers.Layer) -> keras.layers.Layer:
    return keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(layer))


TECHNIQUES = [
    negatives.AccidentalHits,
    negatives.FutureNegatives,
    negatives.SameUserTargets,
    functools.partial(negatives.HistoryNegatives, 10),
]


@pytest.mark.parametrize("make", TECHNIQUES)
def test_round_trip_keeps_class_name_and_config(make) -> None:
    layer = make(name="technique")
    clone = round_trip(layer)
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


def test_accidental_hits_leave_out_other_copies_of_the_positive() -> None:
    keep = round_trip(negatives.AccidentalHits())(tf.constant([5, 7, 5])).numpy()
    np.testing.assert_array_equal(keep, [[False, True, False], [True, False, True], [False, True, False]])


def test_future_negatives_leave_out_movies_first_rated_after_the_query() -> None:
    first_rated = tf.constant([10, 20, 30], tf.int64)  # of candidates 0, 1, 2
    query_time = tf.constant([15, 30, 5], tf.int64)
    keep = round_trip(negatives.FutureNegatives())(first_rated, query_time).numpy()
    np.testing.assert_array_equal(keep, [[True, False, False], [True, True, True], [False, False, False]])


def test_same_user_targets_and_padding_are_left_out() -> None:
    keep = round_trip(negatives.SameUserTargets())(tf.constant([1, 1, 2]), tf.constant([1.0, 1.0, 0.0])).numpy()
    np.testing.assert_array_equal(keep, [[False, False, False], [False, False, False], [True, True, False]])


def test_history_negatives_leave_out_the_movies_of_the_querys_own_history() -> None:
    history = tf.constant([[4, 9, 0], [0, 0, 0], [7, 4, 2]])  # 0 = padding
    keep = round_trip(negatives.HistoryNegatives(10))(history, tf.constant([4, 7, 2, 5])).numpy()
    np.testing.assert_array_equal(
        keep, [[False, True, True, True], [True, True, True, True], [False, False, False, True]]
    )


@pytest.mark.parametrize("jit_compile", [False, True])
def test_history_negatives_equal_comparing_every_history_movie_with_every_candidate(jit_compile: bool) -> None:
    rng = np.random.default_rng(0)
    history = rng.integers(0, 30, (16, 12)).astype(np.int32)  # repeats and padding within a history
    candidates = rng.integers(0, 30, 40).astype(np.int32)  # repeated candidates, and the padding index 0
    layer = negatives.HistoryNegatives(30)
    keep = tf.function(layer, jit_compile=jit_compile)(tf.constant(history), tf.constant(candidates)).numpy()
    expected = ~(history[:, :, None] == candidates[None, None, :]).any(axis=1)
    np.testing.assert_array_equal(keep, expected)


def test_score_mask_ands_the_techniques_and_keeps_the_diagonal() -> None:
    a = tf.constant([[False, True], [True, False]])
    b = tf.constant([[True, False], [True, True]])
    np.testing.assert_array_equal(negatives.score_mask([a, b]).numpy(), [[True, False], [True, True]])
    assert negatives.score_mask([]) is None


def test_catalog_negatives_give_the_whole_pool_or_a_seeded_uniform_draw() -> None:
    pool = np.array([3, 5, 8], np.int32)
    whole = negatives.CatalogNegatives(pool)
    np.testing.assert_array_equal(whole.draw().numpy(), pool)
    assert whole.inclusion() == 1.0
    drawn = negatives.CatalogNegatives(pool, size=50).draw().numpy()
    assert drawn.shape == (50,) and set(drawn) <= {3, 5, 8} and len(set(drawn)) == 3
    assert negatives.CatalogNegatives(pool, size=6).inclusion() == 2.0
    clone = round_trip(negatives.CatalogNegatives(pool, size=2, name="catalog"))
    assert clone.size == 2 and clone.pool_size == 3 and clone.pool.shape == (3,) and clone.holds_targets
    assert not round_trip(negatives.CatalogNegatives(pool, size=2, holds_targets=False)).holds_targets


def test_accidental_hits_against_extra_candidates() -> None:
    keep = negatives.AccidentalHits()(tf.constant([5, 7]), tf.constant([7, 9, 5])).numpy()
    np.testing.assert_array_equal(keep, [[True, True, False], [False, True, True]])
