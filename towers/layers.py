"""Small serialisable layers, one per technique, shared by the towers."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

SECONDS_PER_DAY = 86_400.0
EPOCH_START = 789_652_009  # 1995-01-09, MovieLens' first rating; query time is measured from here
SECONDS_PER_YEAR = 31_556_952.0


@keras.utils.register_keras_serializable("towers")
class L2Normalize(keras.layers.Layer):
    """Unit-length rows, so that dot products are cosines and the softmax temperature sets the scale."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.math.l2_normalize(x, axis=-1, epsilon=1e-6)


@keras.utils.register_keras_serializable("towers")
class ConstantLookup(keras.layers.Layer):
    """Gathers rows of a fixed table (content features, id slots) by dense movie index.

    The table is a non-trainable weight, so it is saved with the tower and served with it.
    """

    def __init__(
        self,
        table: np.ndarray | None = None,
        shape: tuple[int, ...] | None = None,
        dtype_name: str = "float32",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.table_shape = tuple(table.shape if table is not None else shape)
        self.dtype_name = str(table.dtype) if table is not None else dtype_name
        initializer = keras.initializers.Constant(table) if table is not None else "zeros"
        self.table = self.add_weight(
            "table", shape=self.table_shape, dtype=self.dtype_name, initializer=initializer, trainable=False
        )

    def call(self, index: tf.Tensor) -> tf.Tensor:
        return tf.gather(self.table, index)

    def get_config(self) -> dict:
        return {**super().get_config(), "shape": self.table_shape, "dtype_name": self.dtype_name}


@keras.utils.register_keras_serializable("towers")
class WeightedMeanPooling(keras.layers.Layer):
    """Mean of history item vectors with learned non-negative weights from (rating, recency) features.

    Inputs: items [B, N, D], features [B, N, F], mask [B, N] (1 = real item).  Output: [B, D], zeros
    for an empty history (the tower adds an explicit empty-history feature).
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.score = keras.layers.Dense(1, kernel_initializer="zeros")

    def call(self, items: tf.Tensor, features: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        return tf.einsum("bn,bnd->bd", self.item_weights(features, mask), items)

    def item_weights(self, features: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """[..., N] weights of the items (features [..., N, F]), summing to 1 over the last axis (0 if empty)."""
        weights = tf.nn.softplus(self.score(features)[..., 0] + 0.5413) * mask  # softplus(0.5413) = 1
        return weights / tf.maximum(tf.reduce_sum(weights, axis=-1, keepdims=True), 1e-6)


@keras.utils.register_keras_serializable("towers")
class AttentionPooling(keras.layers.Layer):
    """One self-attention block over the history, then attention pooling by a learned query.

    Inputs and output as WeightedMeanPooling; the (rating, recency) features are added to the items.
    """

    def __init__(self, heads: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.heads = heads

    def build(self, input_shape) -> None:
        dim = int(input_shape[-1])
        self.feature_projection = keras.layers.Dense(dim)
        self.attention = keras.layers.MultiHeadAttention(self.heads, key_dim=max(dim // self.heads, 8))
        self.norm = keras.layers.LayerNormalization()
        self.pool_query = self.add_weight("pool_query", shape=(1, 1, dim), initializer="glorot_uniform")
        self.pool = keras.layers.MultiHeadAttention(self.heads, key_dim=max(dim // self.heads, 8))
        super().build(input_shape)

    def call(self, items: tf.Tensor, features: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        x = items + self.feature_projection(features)
        keep = tf.cast(mask, tf.bool)
        pair_mask = keep[:, :, None] & keep[:, None, :]
        x = self.norm(x + self.attention(x, x, attention_mask=pair_mask))
        query = tf.tile(self.pool_query, [tf.shape(x)[0], 1, 1])
        pooled = self.pool(query, x, attention_mask=keep[:, None, :])[:, 0]
        has_any = tf.cast(tf.reduce_any(keep, axis=1, keepdims=True), pooled.dtype)
        return pooled * has_any

    def get_config(self) -> dict:
        return {**super().get_config(), "heads": self.heads}


@keras.utils.register_keras_serializable("towers")
class TwoScalePooling(keras.layers.Layer):
    """A weighted mean of the `recent` most recent history items beside a weighted mean of the whole
    history, each with its own (rating, recency) weights: [B, 2 D].

    One mean over a long history is dominated by its recent end (next-rating training rewards recency), so
    a longer history alone does not help; the long-term mean keeps what the older ratings say. Inputs as
    WeightedMeanPooling, items most recent first.
    """

    def __init__(self, recent: int = 50, **kwargs) -> None:
        super().__init__(**kwargs)
        self.recent = int(recent)
        self.short = WeightedMeanPooling(name="short")
        self.long = WeightedMeanPooling(name="long")

    def call(self, items: tf.Tensor, features: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        n = self.recent
        short = self.short(items[:, :n], features[:, :n], mask[:, :n])
        return tf.concat([short, self.long(items, features, mask)], axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "recent": self.recent}


POOLINGS = {"weighted": WeightedMeanPooling, "attention": AttentionPooling, "two_scale": TwoScalePooling}


FIRST_SLOT_YEAR, LAST_SLOT_YEAR = 1995, 2035  # query times are coded over these calendar years (clipped)
# Release age in whole calendar years (slot year - release year); buckets start at each edge.
AGE_EDGES = (-2, -1, 0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50)


def fractional_year(timestamps: tf.Tensor) -> tf.Tensor:
    return 1970.0 + tf.cast(timestamps, tf.float32) / SECONDS_PER_YEAR


@keras.utils.register_keras_serializable("towers")
class QueryTimeCode(keras.layers.Layer):
    """The query time as interpolation weights over yearly slots, Jan 1 of FIRST_SLOT_YEAR..LAST_SLOT_YEAR:
    [B] int64 timestamps -> [B, S] (two adjacent non-zero weights summing to 1; clipped at the ends).

    Its dot product with a ReleaseAgeCode is that layer's learned age score at the query time,
    interpolated linearly between the years around it: the query half of the release-age term.
    """

    def __init__(self, first_year: int = FIRST_SLOT_YEAR, last_year: int = LAST_SLOT_YEAR, **kwargs) -> None:
        super().__init__(**kwargs)
        self.first_year, self.last_year = int(first_year), int(last_year)

    @property
    def slots(self) -> int:
        return self.last_year - self.first_year + 1

    def call(self, timestamps: tf.Tensor) -> tf.Tensor:
        position = tf.clip_by_value(fractional_year(timestamps) - self.first_year, 0.0, float(self.slots - 1))
        low = tf.floor(position)
        frac = (position - low)[..., None]
        low = tf.cast(low, tf.int32)
        high = tf.minimum(low + 1, self.slots - 1)
        return (1.0 - frac) * tf.one_hot(low, self.slots) + frac * tf.one_hot(high, self.slots)

    def get_config(self) -> dict:
        return {**super().get_config(), "first_year": self.first_year, "last_year": self.last_year}


@keras.utils.register_keras_serializable("towers")
class ReleaseAgeCode(keras.layers.Layer):
    """A movie's learned score for its release age at each yearly slot of QueryTimeCode: [B] release years
    (0 = unknown) -> [B, S], entry s = value[bucket(slot year s - release year)].

    One learned value per AGE_EDGES bucket (starting at 0: no effect until training moves it) and one
    for an unknown year. The movie's age depends on when it is asked about, which a candidate embedding
    computed once cannot hold; split into these two codes it joins the towers' dot product, so the index
    serves it unchanged at every query time.
    """

    def __init__(
        self,
        first_year: int = FIRST_SLOT_YEAR,
        last_year: int = LAST_SLOT_YEAR,
        edges: tuple[int, ...] = AGE_EDGES,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.first_year, self.last_year = int(first_year), int(last_year)
        self.edges = tuple(int(e) for e in edges)
        self.values = self.add_weight("values", shape=(len(self.edges) + 2,), initializer="zeros")

    def call(self, years: tf.Tensor) -> tf.Tensor:
        years = tf.cast(years, tf.float32)[..., None]
        slot_years = tf.range(self.first_year, self.last_year + 1, dtype=tf.float32)
        bucket = tf.raw_ops.Bucketize(input=slot_years - years, boundaries=[float(e) for e in self.edges])
        bucket = tf.where(years > 0, bucket, len(self.edges) + 1)  # unknown year: its own value at every slot
        return tf.gather(self.values, bucket)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "first_year": self.first_year,
            "last_year": self.last_year,
            "edges": list(self.edges),
        }
