"""Several towers of one kind side by side (--members): one embedding, the members' concatenated."""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from towers.layers import ConstantLookup


class Members(keras.Model):
    """K towers of one kind, trained side by side: the output is their embeddings concatenated, so the
    dot product of a query's and a movie's is the sum of the members' scores (an ensemble that one index
    serves). Each member keeps its own loss (towers.retrieval.TwoTowerModel splits the embedding back), so
    the members train as independently initialised models would, on the same batches.
    """

    def __init__(self, members: list[keras.Model], **kwargs) -> None:
        super().__init__(**kwargs)
        if len(members) < 2:
            raise ValueError(f"Members needs two or more towers, got {len(members)}")
        self.members = members

    @property
    def lookup(self) -> dict[str, ConstantLookup]:
        """The first member's lookup tables (every member's are the same)."""
        return self.members[0].lookup

    def call(self, inputs: tf.Tensor | dict[str, tf.Tensor], **kwargs) -> tf.Tensor:
        return tf.concat([member(inputs, **kwargs) for member in self.members], axis=-1)

    def call_on_chunks(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        return tf.concat([member.call_on_chunks(features) for member in self.members], axis=-1)


def split_members(embeddings: tf.Tensor, members: int) -> list[tf.Tensor]:
    """[B, K x w] concatenated members' embeddings -> K [B, w] (one tensor when members is 1)."""
    return [embeddings] if members == 1 else tf.split(embeddings, members, axis=-1)
