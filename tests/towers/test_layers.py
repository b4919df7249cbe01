"""Each small layer and the lazy optimizer: behaviour and get_config round trips."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from towers import lazy_adam
from towers.layers import (
    SECONDS_PER_YEAR,
    AttentionPooling,
    ConstantLookup,
    L2Normalize,
    QueryTimeCode,
    ReleaseAgeCode,
    TwoScalePooling,
    WeightedMeanPooling,
)
from towers.lazy_adam import LazyAdam
from towers.retrieval import InBatchSoftmax


def round_trip(layer: keras.layers.Layer) -> keras.layers.Layer:
    config = keras.utils.serialize_keras_object(layer)
    return keras.utils.deserialize_keras_object(config)


def test_l2_normalize_gives_unit_rows_and_survives_serialisation() -> None:
    out = round_trip(L2Normalize())(tf.constant([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.8], [0.0, 0.0]], atol=1e-6)


def test_constant_lookup_gathers_and_is_not_trainable() -> None:
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    layer = ConstantLookup(table)
    np.testing.assert_array_equal(layer(tf.constant([[3, 0]])).numpy(), table[[[3, 0]]])
    assert layer.trainable_weights == []
    clone = round_trip(layer)
    assert clone.table.shape == (4, 3) and clone.get_config()["shape"] == (4, 3)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(tf.constant([1])).numpy(), table[[1]])


@pytest.mark.parametrize("pooling", [WeightedMeanPooling, AttentionPooling, TwoScalePooling])
def test_poolings_ignore_padding_and_give_zero_for_empty_history(pooling: type) -> None:
    rng = np.random.default_rng(0)
    items = tf.constant(rng.normal(size=(3, 4, 8)), tf.float32)
    features = tf.constant(rng.normal(size=(3, 4, 2)), tf.float32)
    mask = tf.constant([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], tf.float32)
    layer = pooling()
    out = layer(items, features, mask).numpy()
    assert out.shape == (3, 16 if pooling is TwoScalePooling else 8) and np.isfinite(out).all()
    np.testing.assert_allclose(out[2], 0.0, atol=1e-6)
    changed = items.numpy().copy()
    changed[0, 2:] = 99.0  # padding positions must not matter
    np.testing.assert_allclose(layer(tf.constant(changed), features, mask).numpy()[0], out[0], atol=1e-5)
    if pooling is WeightedMeanPooling:  # starts as a plain mean of the real items
        np.testing.assert_allclose(out[0], items.numpy()[0, :2].mean(0), atol=1e-5)
    assert type(round_trip(layer)) is pooling


def test_two_scale_pooling_starts_as_the_mean_of_the_recent_items_beside_the_mean_of_all() -> None:
    items = tf.constant(np.arange(5 * 2, dtype=np.float32).reshape(1, 5, 2))  # most recent first
    features = tf.zeros((1, 5, 2))
    mask = tf.constant([[1, 1, 1, 1, 0]], tf.float32)
    layer = round_trip(TwoScalePooling(recent=2))
    assert layer.recent == 2
    out = layer(items, features, mask).numpy()[0]
    np.testing.assert_allclose(out[:2], items.numpy()[0, :2].mean(0), atol=1e-5)
    np.testing.assert_allclose(out[2:], items.numpy()[0, :4].mean(0), atol=1e-5)
    assert len(layer.trainable_weights) == 4  # each mean learns its own (rating, recency) weights


def test_in_batch_softmax_matches_dense_cross_entropy() -> None:
    logits = tf.constant(np.random.default_rng(1).normal(size=(4, 4)), tf.float32)
    ours = InBatchSoftmax()(tf.eye(4), logits)
    dense = keras.losses.CategoricalCrossentropy(from_logits=True)(tf.eye(4), logits)
    np.testing.assert_allclose(ours.numpy(), dense.numpy(), rtol=1e-5)
    assert isinstance(round_trip(InBatchSoftmax()), InBatchSoftmax)


@pytest.mark.parametrize("compiled", [False, True])
def test_lazy_adam_updates_only_rows_in_the_batch_and_matches_adam_there(compiled: bool) -> None:
    start = np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)
    lazy_var, dense_var = tf.Variable(start), tf.Variable(start)
    grad_rows = np.array([1, 4, 1, 1])  # row 1 three times: its gradient is their sum
    values = np.random.default_rng(3).normal(size=(4, 3)).astype(np.float32)
    sparse = tf.IndexedSlices(tf.constant(values), tf.constant(grad_rows, tf.int64), tf.constant([6, 3]))
    dense_grad = np.zeros_like(start)
    np.add.at(dense_grad, grad_rows, values)
    lazy, adam = LazyAdam(0.1), keras.optimizers.Adam(0.1)

    @tf.function(jit_compile=compiled)
    def lazy_step() -> None:
        lazy.apply_gradients([(sparse, lazy_var)])

    for _ in range(3):
        lazy_step()  # under XLA (compiled) as in the compiled training step
        adam.apply_gradients([(tf.constant(dense_grad), dense_var)])
    untouched = [0, 2, 3, 5]
    np.testing.assert_array_equal(lazy_var.numpy()[untouched], start[untouched])
    # Rows that get a gradient every step see exactly Adam's update.
    np.testing.assert_allclose(lazy_var.numpy()[[1, 4]], dense_var.numpy()[[1, 4]], rtol=1e-5, atol=1e-5)
    assert LazyAdam.from_config(lazy.get_config()).get_config()["learning_rate"] == pytest.approx(0.1)


@pytest.mark.parametrize("row_shape", [(3,), ()])  # an embedding table, and a table of scalars
def test_lazy_adam_dense_table_update_equals_the_per_occurrence_one(monkeypatch, row_shape: tuple) -> None:
    start = np.random.default_rng(4).normal(size=(8, *row_shape)).astype(np.float32)
    steps = [np.array([1, 4, 1, 1, 6]), np.array([4, 2, 2, 7, 0])]  # the rows touched change between steps
    values = np.random.default_rng(5).normal(size=(2, 5, *row_shape)).astype(np.float32)
    results = []
    for dense_from in (0.0, 100.0):  # every update through the dense table, then none
        monkeypatch.setattr(lazy_adam, "DENSE_FROM", dense_from)
        variable, optimizer = tf.Variable(start), LazyAdam(0.1)

        @tf.function(jit_compile=True)
        def step(rows: tf.Tensor, grads: tf.Tensor, variable=variable, optimizer=optimizer) -> None:
            optimizer.apply_gradients([(tf.IndexedSlices(grads, rows, tf.constant([8, *row_shape])), variable)])

        for rows, grads in zip(steps, values, strict=True):
            step(tf.constant(rows, tf.int64), tf.constant(grads))
        results.append([variable.numpy(), *(slot.numpy() for slot in optimizer.variables()[1:])])
    for dense, sparse in zip(*results, strict=True):
        np.testing.assert_allclose(dense, sparse, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(results[0][0][[3, 5]], start[[3, 5]])  # never touched


def timestamp(year: float) -> int:
    return round((year - 1970.0) * SECONDS_PER_YEAR)


def test_query_time_code_interpolates_between_the_two_years_around_the_query_time() -> None:
    layer = round_trip(QueryTimeCode(first_year=2000, last_year=2003))
    assert (layer.first_year, layer.last_year, layer.slots) == (2000, 2003, 4)
    code = layer(tf.constant([timestamp(2001.25), timestamp(1990.0), timestamp(2010.0)], tf.int64)).numpy()
    np.testing.assert_allclose(code[0], [0.0, 0.75, 0.25, 0.0], atol=1e-3)
    np.testing.assert_allclose(code[1:], [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]], atol=1e-6)  # clipped


def test_release_age_code_dotted_with_the_time_code_is_the_learned_value_of_the_movies_age() -> None:
    layer = round_trip(ReleaseAgeCode(first_year=2000, last_year=2003, edges=(-1, 0, 2)))
    assert layer.edges == (-1, 0, 2)
    np.testing.assert_array_equal(layer.values.numpy(), 0.0)  # no effect before training
    layer.values.assign([10.0, 20.0, 30.0, 40.0, 50.0])  # ages < -1, [-1, 0), [0, 2), >= 2, unknown year
    codes = layer(tf.constant([2001, 1999, 0])).numpy()
    np.testing.assert_allclose(codes, [[20, 30, 30, 40], [30, 40, 40, 40], [50, 50, 50, 50]])
    time = QueryTimeCode(first_year=2000, last_year=2003)(tf.constant([timestamp(2000.5)], tf.int64)).numpy()
    # Asked about in mid-2000, a movie of 2001 is halfway between its ages -1 (20) and 0 (30).
    np.testing.assert_allclose(time @ codes.T, [[25.0, 35.0, 50.0]], atol=1e-2)
