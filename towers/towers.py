"""The query tower (a user's rating history + time) and the candidate tower (a movie's id and content).

Both end in an L2-normalised embedding of the same dimension; their dot product is the retrieval score.
Each is a Keras model of its own that can be saved and served alone. Movies are referred to by their
dense index (pipelines.data.features.Catalog); a fixed `slots` table maps the index to an id-embedding row:
1..S for movies rated before T_val, 0 (out of vocabulary) for the rest, so a movie first seen later
falls back to a learned "unknown movie" vector plus its content.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tf_keras as keras

from towers.config import TowerConfig, check_towers
from towers.layers import (
    EPOCH_START,
    POOLINGS,
    SECONDS_PER_DAY,
    SECONDS_PER_YEAR,
    AttentionPooling,
    ConstantLookup,
    L2Normalize,
    QueryTimeCode,
    ReleaseAgeCode,
    WeightedMeanPooling,
)

POPULARITY_FEATURES = 3  # the last columns of MovieTables.content (pipelines.training.tables.popularity_features)


@dataclasses.dataclass(frozen=True)
class MovieTables:
    """Fixed per-movie tables the towers look up, all [n + 1, ...] by dense movie index.

    Attributes:
      slots: int32 id-embedding row (0 = out of vocabulary).
      content: float32 [n + 1, C] dense content vector (genome code, has-genome flag, genres), its last
        POPULARITY_FEATURES columns the training popularity (zero for a movie nobody rated before T_val).
      year_buckets: int32.  title_tokens: int32 [n + 1, L] (0 = padding).
      years: int32 release year (0 = unknown), for the release-age term; None in folders from before it.
    """

    slots: np.ndarray
    content: np.ndarray
    year_buckets: np.ndarray
    title_tokens: np.ndarray
    years: np.ndarray | None = None

    @property
    def num_slots(self) -> int:
        return int(self.slots.max()) + 1


def _lookups(tables: MovieTables) -> dict[str, ConstantLookup]:
    return {
        "slots": ConstantLookup(tables.slots, name="slots"),
        "content": ConstantLookup(tables.content, name="content"),
        "year_buckets": ConstantLookup(tables.year_buckets, name="year_buckets"),
        "title_tokens": ConstantLookup(tables.title_tokens, name="title_tokens"),
    }


def _check_release_age(tables: MovieTables, config: TowerConfig) -> None:
    if config.release_age and tables.years is None:
        raise ValueError("release_age needs the movies' release years (MovieTables.years)")
    check_towers(config)


class CandidateTower(keras.Model):
    """Movie dense index [B] -> embedding [B, embedding_dim], followed with release_age by the movie's
    ReleaseAgeCode [B, S] (its dot product with the query's QueryTimeCode is the release-age score)."""

    def __init__(self, tables: MovieTables, config: TowerConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        _check_release_age(tables, config)
        self.config = config
        self.lookup = _lookups(tables)
        self.release_age, self.cold_release_age, self.years = None, None, None
        if config.release_age:
            self.release_age = ReleaseAgeCode(name="release_age")
            if config.cold_release_age:
                self.cold_release_age = ReleaseAgeCode(name="cold_release_age")
            self.years = ConstantLookup(np.asarray(tables.years, np.int32), name="years")
        self.id_embedding = keras.layers.Embedding(tables.num_slots, config.id_dim, name="id_embedding")
        self.year_embedding = keras.layers.Embedding(int(tables.year_buckets.max()) + 1, 8, name="year_embedding")
        self.title_embedding = keras.layers.Embedding(int(tables.title_tokens.max()) + 1, 16, name="title_embedding")
        self.mlp = keras.Sequential(
            [keras.layers.Dense(config.hidden, activation="relu"), keras.layers.Dense(config.embedding_dim)],
            name="mlp",
        )
        self.normalize = L2Normalize()
        # Id dropout draws from a Generator: under XLA (the compiled training step) tf.random.uniform
        # ignores seeds, a Generator's state does not, and checkpoints save it. Its seed comes from
        # Python's `random`, which keras.utils.set_random_seed seeds.
        self.dropout_generator = tf.random.Generator.from_seed(random.randint(1, 2**31 - 1))

    def call(
        self,
        movies: tf.Tensor,
        training: bool = False,
        popularity: tf.Tensor | None = None,
        new: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """popularity: [B, POPULARITY_FEATURES] in place of the table's; new: bool [B], the movies to show as
        a movie nobody rated before T_val looks (the out-of-vocabulary id, popularity features 0). Training
        gives both as of each target's time."""
        movies = tf.cast(movies, tf.int32)
        slots = self.lookup["slots"](movies)
        content = self.lookup["content"](movies)
        if popularity is not None:
            content = tf.concat([content[..., :-POPULARITY_FEATURES], tf.cast(popularity, content.dtype)], axis=-1)
        if new is not None:
            slots = tf.where(new, tf.zeros_like(slots), slots)
            counts = tf.range(tf.shape(content)[-1]) >= tf.shape(content)[-1] - POPULARITY_FEATURES
            content = tf.where(new[..., None] & counts, tf.zeros_like(content), content)
        if training and self.config.id_dropout > 0:
            hide = self.dropout_generator.uniform(tf.shape(slots)) < self.config.id_dropout
            slots = tf.where(hide, tf.zeros_like(slots), slots)
            if self.config.hide_popularity:  # the hidden movie looks as one never rated looks: no counts either
                columns = tf.shape(content)[-1]
                counts = tf.range(columns) >= columns - POPULARITY_FEATURES
                content = tf.where(hide[..., None] & counts, tf.zeros_like(content), content)
        tokens = self.lookup["title_tokens"](movies)
        token_mask = tf.cast(tokens > 0, tf.float32)[..., None]
        title = tf.reduce_sum(self.title_embedding(tokens) * token_mask, axis=-2) / tf.maximum(
            tf.reduce_sum(token_mask, axis=-2), 1.0
        )
        features = [
            self.id_embedding(slots),
            content,
            self.year_embedding(self.lookup["year_buckets"](movies)),
            title,
        ]
        embedding = self.normalize(self.mlp(tf.concat(features, axis=-1)))
        if self.release_age is None:
            return embedding
        years = self.years(movies)
        age = self.release_age(years)
        if self.cold_release_age is not None:  # the out-of-vocabulary id: a movie that looks never rated
            age = tf.where((slots == 0)[..., None], self.cold_release_age(years), age)
        return tf.concat([embedding, age], axis=-1)


class QueryTower(keras.Model):
    """A user's history and the query time -> embedding [B, embedding_dim]; no user id involved.

    Inputs (dict): history_movies int32 [B, N] (dense index, 0 = padding, most recent first),
    history_ratings float32 [B, N], history_timestamps int64 [B, N], query_timestamp int64 [B].
    An empty history yields a learned prior embedding (from the time features alone). With release_age the
    embedding is followed by the query time's QueryTimeCode [B, S].
    """

    def __init__(
        self, tables: MovieTables, config: TowerConfig, id_embedding: keras.layers.Embedding | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.time_code = QueryTimeCode(name="time_code") if config.release_age else None
        lookups = _lookups(tables)
        self.slots, self.content = lookups["slots"], lookups["content"]
        self.id_embedding = id_embedding or keras.layers.Embedding(tables.num_slots, config.id_dim, name="id_embedding")
        self.content_projection = keras.layers.Dense(config.id_dim, use_bias=False, name="content_projection")
        pooling_args = {"recent": config.recent_length} if config.pooling == "two_scale" else {}
        self.pooling = POOLINGS[config.pooling](name="pooling", **pooling_args)
        self.mlp = keras.Sequential(
            [keras.layers.Dense(config.hidden, activation="relu"), keras.layers.Dense(config.embedding_dim)],
            name="mlp",
        )
        self.normalize = L2Normalize()

    def call(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        movies = tf.cast(features["history_movies"], tf.int32)
        mask = tf.cast(movies > 0, tf.float32)
        query_timestamp = tf.cast(features["query_timestamp"], tf.int64)
        ratings, item_features = item_features_of(
            features["history_ratings"], features["history_timestamps"], query_timestamp[:, None], mask
        )
        pooled = self.pooled_items(movies, lambda items: self.pooling(items, item_features, mask))
        return self.embed(pooled, ratings, mask, query_timestamp)

    def call_on_chunks(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """The embedding `call` gives, for every target of a chunk batch (pipelines.training.input): [C * L, dim].

        The chunk's context items are computed once and each target pools its band of them
        (history_mask); the same weights, features and MLP as `call`, so training on chunks trains the
        tower that serves single histories.
        """
        if not isinstance(self.pooling, WeightedMeanPooling):
            raise ValueError("chunked training needs pooling='weighted' (use chunk_length=0 for attention pooling)")
        mask = tf.cast(features["history_mask"], tf.float32)  # [C, L, M]
        query_timestamp = tf.cast(features["query_timestamp"], tf.int64)  # [C, L]
        ratings, item_features = item_features_of(
            features["context_ratings"][:, None, :],
            features["context_timestamps"][:, None, :],
            query_timestamp[:, :, None],
            mask,
        )
        weights = self.pooling.item_weights(item_features, mask)  # [C, L, M]
        pooled = self.pooled_items(
            tf.cast(features["context_movies"], tf.int32), lambda items: tf.einsum("clm,cmd->cld", weights, items)
        )  # [C, L, D]

        def flat(x: tf.Tensor) -> tf.Tensor:
            return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], axis=0))

        return self.embed(flat(pooled), flat(ratings), flat(mask), flat(query_timestamp))

    def embed(self, pooled: tf.Tensor, ratings: tf.Tensor, mask: tf.Tensor, query_timestamp: tf.Tensor) -> tf.Tensor:
        """Pooled history [B, D] + history summary and query time -> unit embedding [B, embedding_dim]
        (and the query time's code with release_age)."""
        count = tf.reduce_sum(mask, axis=1)
        mean_rating = tf.reduce_sum(ratings, axis=1) / tf.maximum(count, 1.0)
        query_time = tf.cast(query_timestamp - EPOCH_START, tf.float32)
        context = tf.stack(
            [
                query_time / SECONDS_PER_YEAR / 30.0,
                tf.math.log1p(count) / 4.0,
                tf.cast(count == 0, tf.float32),
                mean_rating,
            ],
            axis=-1,
        )
        embedding = self.normalize(self.mlp(tf.concat([pooled, context], axis=-1)))
        if self.time_code is None:
            return embedding
        return tf.concat([embedding, self.time_code(query_timestamp)], axis=-1)

    def pooled_items(self, movies: tf.Tensor, pool: Callable[[tf.Tensor], tf.Tensor]) -> tf.Tensor:
        """pool(history_items(movies)), where pool maps items [..., N, W] to k means of them [..., k W].

        The weighted and two-scale poolings are linear in the items, as is the content projection (no
        bias), so the raw content is pooled beside the id embeddings and projected once per mean rather
        than once per history item: the same result, without a [B N, C] x [C, D] product (and its
        gradient) each step.
        """
        if not self.config.use_content_in_history or isinstance(self.pooling, AttentionPooling):
            return pool(self.history_items(movies))
        ids = pool(self.id_embedding(self.slots(movies)))  # [..., k D]
        content = pool(self.content(movies))  # [..., k C], pooled apart: a concatenation would be materialised
        means = tf.reshape(content, tf.concat([tf.shape(content)[:-1], [-1, self.content.table_shape[-1]]], axis=0))
        return ids + tf.reshape(self.content_projection(means), tf.shape(ids))  # k means of C -> of D each

    def history_items(self, movies: tf.Tensor) -> tf.Tensor:
        """[..., id_dim] item vectors of a tensor of movies: id embedding (+ content projection)."""
        items = self.id_embedding(self.slots(movies))
        if self.config.use_content_in_history:
            items += self.content_projection(self.content(movies))
        return items


def item_features_of(
    ratings: tf.Tensor, timestamps: tf.Tensor, query_timestamp: tf.Tensor, mask: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """(centred ratings, pooling features [..., 2]: rating and log age in days at the query time), both
    zero where mask is 0; the inputs broadcast to mask's shape."""
    ages = tf.cast(tf.maximum(query_timestamp - tf.cast(timestamps, tf.int64), 0), tf.float32)
    ratings = (tf.cast(ratings, tf.float32) - 3.5) / 1.5 * mask
    return ratings, tf.stack([ratings, tf.math.log1p(ages / SECONDS_PER_DAY) / 8.0 * mask], axis=-1)
