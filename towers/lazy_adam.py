"""Adam whose sparse (embedding) updates touch only the rows seen in the batch, compiled with XLA.

tf-keras's Adam decays the moments of every row of an embedding table on every step, even for sparse
gradients: for an 86.5k x 64 movie table that dense work is most of a training step on a 2-core CPU.
This is the "lazy" variant tensorflow-addons had (LazyAdam): rows absent from a batch keep their moments
and weights unchanged. Dense variables get plain Adam.

tf-keras merges duplicate indices with tf.unique, whose data-dependent shape XLA cannot compile. Here
every occurrence of a row carries that row's summed gradient instead (`summed_by_row`: static shapes),
so all occurrences of a row compute the same new moments and weights, and scattering them back with
duplicates is exact and deterministic.

When a step's gradient has as many occurrences as about three quarters of the table's rows (the shared
movie-id table under a 200-rating history at batch 1024: ~205k occurrences of 86.5k rows), gathering
and scattering per occurrence costs more than one pass over the table: the gradient is then summed
into a dense [rows, dim] array and only the touched rows take the update (the same result; 46 -> 23 ms
a step for that table on the 2-core CPU, BUILD_NOTES "Training throughput").
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

DENSE_FROM = 0.75  # occurrences per table row from which the dense-table update is the faster one


@keras.utils.register_keras_serializable("towers")
class LazyAdam(keras.optimizers.Adam):
    """Adam with lazy sparse updates."""

    def _deduplicate_sparse_grad(self, grads: list) -> list:
        return list(grads)  # update_step sums duplicates itself, in an XLA-compatible way

    def update_step(self, gradient: tf.Tensor | tf.IndexedSlices, variable: tf.Variable) -> None:
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = tf.cast(self.learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        key = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[key], self._velocities[key]
        rows = gradient.indices
        occurrences = rows.shape[0]
        if occurrences is not None and occurrences >= DENSE_FROM * variable.shape[0]:
            summed = tf.math.unsorted_segment_sum(gradient.values, rows, variable.shape[0])
            touched = tf.math.unsorted_segment_max(tf.ones_like(rows), rows, variable.shape[0]) > 0
            touched = tf.reshape(touched, [-1] + [1] * (variable.shape.rank - 1))  # broadcasts over the rows
            m_new = tf.where(touched, beta_1 * m + (1 - beta_1) * summed, m)
            v_new = tf.where(touched, beta_2 * v + (1 - beta_2) * tf.square(summed), v)
            variable.assign(tf.where(touched, variable - alpha * m_new / (tf.sqrt(v_new) + self.epsilon), variable))
            m.assign(m_new)
            v.assign(v_new)
            return None
        values = summed_by_row(gradient.values, rows, variable.shape[0])
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        new_rows = tf.gather(variable, rows) - alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_update(tf.IndexedSlices(new_rows, rows))
        return None


def summed_by_row(values: tf.Tensor, rows: tf.Tensor, num_rows: int) -> tf.Tensor:
    """[n, ...]: for each of the n occurrences, the sum of `values` over every occurrence of its row."""
    n = tf.shape(rows)[0]
    representative = tf.gather(tf.math.unsorted_segment_max(tf.range(n), rows, num_rows), rows)
    return tf.gather(tf.math.unsorted_segment_sum(values, representative, n), representative)
