"""One small layer per in-batch negative technique. Each gives a [B, B] bool `keep` over the in-batch logits
(query i, candidate j): False where candidate j must not count as a negative of query i. TwoTowerModel
ANDs the ones it uses into TFRS Retrieval's `score_mask` (one select over the logits) and always keeps a
query's own positive. The fourth technique, the logQ correction, needs no layer of its own: TFRS applies
it from each candidate's sampling probability (a ConstantLookup of the model).
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


@keras.utils.register_keras_serializable("towers")
class AccidentalHits(keras.layers.Layer):
    """Leaves out other in-batch copies of a query's own positive movie: [B] targets -> [B, B] keep."""

    def call(self, targets: tf.Tensor) -> tf.Tensor:
        return tf.not_equal(targets[:, None], targets[None, :])


@keras.utils.register_keras_serializable("towers")
class FutureNegatives(keras.layers.Layer):
    """Leaves out candidates first rated after the query's time: they could not have been the answer then,
    and pushing them down there would teach the towers that new movies are bad.

    Call with first_rated: [B] int64 time of each candidate's first training rating, and query_time: [B].
    """

    def call(self, first_rated: tf.Tensor, query_time: tf.Tensor) -> tf.Tensor:
        return first_rated[None, :] <= tf.cast(query_time, tf.int64)[:, None]


@keras.utils.register_keras_serializable("towers")
class SameUserTargets(keras.layers.Layer):
    """In chunk batches (pipelines.training.input), leaves out the same user's other targets (movies the user
    did rate) and the padding positions (weight 0): [B] users, [B] weights -> [B, B] keep."""

    def call(self, users: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
        return tf.not_equal(users[:, None], users[None, :]) & (weights > 0)


def score_mask(keeps: list[tf.Tensor]) -> tf.Tensor | None:
    """The AND of `keeps` with each query's own positive (the diagonal) always kept; None when empty."""
    if not keeps:
        return None
    keep = keeps[0]
    for other in keeps[1:]:
        keep = keep & other
    return keep | tf.eye(tf.shape(keep)[0], dtype=tf.bool)
