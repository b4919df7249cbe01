"""Adam whose sparse (embedding) updates touch only the rows seen in the batch.

tf-keras's Adam decays the moments of every row of an embedding table on every step, even for sparse
gradients: for two 86.5k x 64 movie tables that dense work is most of a training step on a 2-core CPU.
This is the "lazy" variant tensorflow-addons had (LazyAdam): rows absent from a batch keep their moments
and weights unchanged. Dense variables get plain Adam.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


@keras.utils.register_keras_serializable("towers")
class LazyAdam(keras.optimizers.Adam):
    """Adam with lazy sparse updates; XLA is off by default (tf.unique has a data-dependent shape)."""

    def __init__(self, learning_rate: float = 0.001, jit_compile: bool = False, **kwargs) -> None:
        super().__init__(learning_rate=learning_rate, jit_compile=jit_compile, **kwargs)

    def update_step(self, gradient: tf.Tensor | tf.IndexedSlices, variable: tf.Variable) -> None:
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = tf.cast(self.learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        key = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[key], self._velocities[key]
        # The base optimizer has already summed duplicate indices (_deduplicate_sparse_grad).
        rows, values = gradient.indices, gradient.values
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))
        return None
