"""towers.linear_member: the factor lookup's known answers and get_config round trip, and the two towers
with the member's columns appended."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from towers.linear_member import FactorLookup, LinearCandidate, LinearFactors, LinearQuery

ROWS = np.array([0, 2, 0, 1, 3], np.int32)  # movies 1..4; movie 2 has no factor row
VECTORS = np.array([[0, 0], [1, 2], [10, 20], [100, 200]], np.float32)


class FirstColumn(keras.Model):
    """A stand-in tower: the query time (queries) or the movie index (movies) as one column."""

    def call(self, inputs, **kwargs) -> tf.Tensor:
        value = inputs["query_timestamp"] if isinstance(inputs, dict) else inputs
        return tf.cast(value, tf.float32)[:, None]


def test_factor_lookup_gives_each_movie_its_row_and_zeros_without_one() -> None:
    layer = FactorLookup(ROWS, VECTORS)
    np.testing.assert_array_equal(layer(tf.constant([1, 2, 3, 4, 0])).numpy(), [[10, 20], [0, 0], [1, 2], [100, 200],
                                                                            [0, 0]])  # fmt: skip
    assert layer.trainable_weights == []
    config = keras.utils.serialize_keras_object(layer)
    clone = keras.utils.deserialize_keras_object(config)
    assert (clone.num_movies, clone.items, clone.rank) == (4, 3, 2)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(tf.constant([[4, 1]])).numpy(), [[[100, 200], [10, 20]]])


def test_the_query_adds_the_history_rows_and_the_candidate_its_own() -> None:
    query = LinearQuery(FirstColumn(), FactorLookup(ROWS, VECTORS))
    features = {"history_movies": tf.constant([[1, 3, 0], [2, 0, 0]]), "query_timestamp": tf.constant([7, 8])}
    np.testing.assert_array_equal(query(features).numpy(), [[7, 11, 22], [8, 0, 0]])  # padding and movie 2 add 0
    candidate = LinearCandidate(FirstColumn(), FactorLookup(ROWS, VECTORS))
    np.testing.assert_array_equal(candidate(tf.constant([4, 2])).numpy(), [[4, 100, 200], [2, 0, 0]])


def test_factors_scale_the_query_side_only_and_build_both_towers() -> None:
    factors = LinearFactors(ROWS, VECTORS, VECTORS * 2).scaled(0.5)
    np.testing.assert_array_equal(factors.left, VECTORS * 0.5)
    np.testing.assert_array_equal(factors.right, VECTORS * 2)
    query, candidate = factors.towers(FirstColumn(), FirstColumn())
    scores = (
        query({"history_movies": tf.constant([[3]]), "query_timestamp": tf.constant([0])}).numpy()
        @ candidate(tf.constant([1, 4])).numpy().T
    )
    np.testing.assert_allclose(scores, [[0.5 * (1 * 20 + 2 * 40), 0.5 * (1 * 200 + 2 * 400)]])
