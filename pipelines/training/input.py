"""tf.data input: (a user's history before a rating -> that rating's movie) examples, built on the fly.

Nothing is materialised per example: the per-user, time-ordered training arrays (pipelines.data.split
Interactions) live once in memory and every batch is gathered from them. A history is the last
`history_length` ratings before its target, strictly earlier in the protocol's (timestamp, movieId)
order, never crossing into another user's row. Training arrays end before T_val, so no example can
contain a later rating. Two layouts of the same examples:

- chunks (the default, `chunk_length` > 0): a batch is a set of shuffled runs ("chunks") of
  `chunk_length` consecutive positions of the flat arrays, each with the `history_length` ratings before
  it (its context). Consecutive ratings of a user share most of their history, so the context is read
  once per chunk and each target's history is a band of it (`history_mask`): ~(L + N) / L rating
  lookups per example instead of N. Targets of one chunk usually belong to one user; the loss leaves a
  user's other targets out of their negatives (they are movies the user did rate).
- independent examples (`chunk_length` = 0): shuffled target positions, each with its own gathered
  history (most recent first): the layout serving uses, and the one attention pooling needs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from pipelines.data.split import RELEVANT_RATING, Interactions
from pipelines.training.config import POSITIVES, InputConfig
from pipelines.training.popularity import popularity_columns, ratings_before


def target_positions(train: Interactions, positives: str) -> np.ndarray:
    """Positions (into train's flat arrays) of the ratings used as targets; each needs one earlier rating
    of the same user or is a cold start (kept: the tower learns an empty-history prior)."""
    if positives not in POSITIVES:
        raise ValueError(f"positives must be one of {POSITIVES}, got {positives!r}")
    if positives == "liked":
        return np.flatnonzero(train.ratings >= RELEVANT_RATING).astype(np.int64)
    return np.arange(len(train.movies), dtype=np.int64)


def history_positions(ends: np.ndarray, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """[B, length] positions ends-1, ends-2, ... and a validity mask (position >= its row start)."""
    positions = ends[:, None] - np.arange(1, length + 1)[None, :]
    valid = positions >= starts[:, None]
    return np.where(valid, positions, 0), valid


def query_features(history: Interactions, query_times: np.ndarray, length: int) -> dict[str, np.ndarray]:
    """Query tower inputs for evaluation cases: the last `length` history ratings, most recent first."""
    positions, valid = history_positions(history.offsets[1:], history.offsets[:-1], length)

    def take(values: np.ndarray, fill: float) -> np.ndarray:
        if len(values) == 0:  # only cold users: every row is padding
            return np.full(positions.shape, fill, values.dtype)
        return np.where(valid, values[positions], fill)

    return {
        "history_movies": take(history.movies, 0).astype(np.int32),
        "history_ratings": take(history.ratings, 0).astype(np.float32),
        "history_timestamps": take(history.timestamps, 0).astype(np.int64),
        "query_timestamp": np.asarray(query_times, np.int64),
    }


def training_dataset(train: Interactions, config: InputConfig, *, shard: tuple[int, int] = (0, 1),
                     batch_size: int | None = None) -> tuple[tf.data.Dataset, int]:  # fmt: skip
    """An endless dataset of training batches, reshuffled every epoch, and the number of steps per epoch.

    Independent examples (chunk_length 0): each element is a dict of history_movies int32 [B, N],
    history_ratings float32 [B, N], history_timestamps int64 [B, N], query_timestamp int64 [B],
    target int32 [B], weight float32 [B]; with popularity_as_of, target_popularity float32 [B, 3] (the
    target movie's popularity features as of the target's time); with hide_new_ids, target_new bool [B]
    (the target movie had fewer than hide_new_ids earlier training ratings). Chunks: see `chunk_dataset`.

    Args:
      train: training ratings grouped by user.
      config: history length, batch size, positives, chunk length, seed.
      shard: (index, count): this input pipeline takes every count-th target or chunk (multi-worker training).
      batch_size: per-pipeline batch size when it differs from config.batch_size (the global one).
    """
    batch = batch_size or config.batch_size
    if config.chunk_length > 0:
        return chunk_dataset(train, config, shard=shard, batch_size=batch)
    positions = target_positions(train, config.positives)[shard[0] :: shard[1]]
    steps = len(positions) // batch
    if steps == 0:
        raise ValueError(f"{len(positions)} training targets are fewer than one batch of {batch}")
    columns = training_columns(train)
    movies, ratings, timestamps, starts = columns
    steps_back = tf.range(1, config.history_length + 1, dtype=tf.int64)
    as_of = as_of_features(train, config)

    def features(target: tf.Tensor) -> dict[str, tf.Tensor]:
        history = target[:, None] - steps_back[None, :]
        valid = history >= tf.gather(starts, target)[:, None]
        return {
            **ratings_at("history", columns, tf.where(valid, history, 0), valid),
            "query_timestamp": tf.gather(timestamps, target),
            "target": tf.gather(movies, target),
            "weight": loss_weight(tf.gather(ratings, target), config.positives),
            **as_of(target),
        }

    return shuffled_batches(positions, batch, config.seed, features), steps


def chunk_dataset(train: Interactions, config: InputConfig, *, shard: tuple[int, int] = (0, 1),
                  batch_size: int | None = None) -> tuple[tf.data.Dataset, int]:  # fmt: skip
    """Batches of C = batch / L chunks of L = chunk_length consecutive training positions, and steps per epoch.

    Each element is a dict, with N = history_length:
      context_movies int32 [C, N + L], context_ratings float32, context_timestamps int64: the chunk's
        positions and the N before it (padding where they fall outside the arrays);
      history_mask bool [C, L, N + L]: target i's history, the context positions strictly before it,
        at most N back and in the target's own user row;
      target int32 [C, L], query_timestamp int64 [C, L], weight float32 [C, L] (0 for the positions past
        the end of the arrays), user int64 [C, L] (the row start: a user key);
      with popularity_as_of, target_popularity float32 [C, L, 3]; with hide_new_ids, target_new bool [C, L].
    Every rating of a chunk is a target, so positives must be "all" or "weighted" ("liked" needs
    independent examples).
    """
    batch = batch_size or config.batch_size
    length, history = config.chunk_length, config.history_length
    if config.positives not in ("all", "weighted"):
        raise ValueError(f"chunks take positives 'all' or 'weighted', got {config.positives!r} (chunk_length=0)")
    if batch % length:
        raise ValueError(f"batch_size {batch} must be a multiple of chunk_length {length}")
    per_batch, total = batch // length, len(train.movies)
    chunks = np.arange(-(-total // length), dtype=np.int64)[shard[0] :: shard[1]]
    steps = len(chunks) // per_batch
    if steps == 0:
        raise ValueError(f"{total} training ratings make fewer than one batch of {per_batch} chunks of {length}")
    columns = training_columns(train)
    movies, ratings, timestamps, starts = columns
    targets_in_chunk = tf.range(length, dtype=tf.int64)
    as_of = as_of_features(train, config)
    context_in_chunk = tf.range(-history, length, dtype=tf.int64)

    def features(chunk: tf.Tensor) -> dict[str, tf.Tensor]:
        first = chunk[:, None] * length
        target = first + targets_in_chunk[None, :]  # [C, L]
        context = first + context_in_chunk[None, :]  # [C, N + L]
        in_arrays = (context >= 0) & (context < total)
        real = target < total
        target = tf.minimum(target, total - 1)
        context = tf.clip_by_value(context, 0, total - 1)
        user = tf.gather(starts, target)
        before = context[:, None, :] < target[:, :, None]
        history_mask = (
            before
            & (context[:, None, :] >= target[:, :, None] - history)
            & (context[:, None, :] >= user[:, :, None])
            & in_arrays[:, None, :]
            & real[:, :, None]
        )
        return {
            **ratings_at("context", columns, context, in_arrays),
            "history_mask": history_mask,
            "target": tf.gather(movies, target),
            "query_timestamp": tf.gather(timestamps, target),
            "weight": loss_weight(tf.gather(ratings, target), config.positives) * tf.cast(real, tf.float32),
            "user": user,
            **as_of(target),
        }

    return shuffled_batches(chunks, per_batch, config.seed, features), steps


def training_columns(train: Interactions) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """The flat training arrays as constants: movies, ratings, timestamps and each position's row start."""
    starts = np.repeat(train.offsets[:-1], np.diff(train.offsets))
    return (
        tf.constant(train.movies, tf.int32),
        tf.constant(train.ratings, tf.float32),
        tf.constant(train.timestamps, tf.int64),
        tf.constant(starts, tf.int64),
    )


def as_of_features(train: Interactions, config: InputConfig) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    """positions (any shape) -> what their movies looked like at the rating's time: target_popularity
    [..., 3] (popularity_as_of) and target_new [...] (hide_new_ids, hide_new_days); {} when none is asked for."""
    hide = config.hide_new_ids > 0 or config.hide_new_days > 0
    if not config.popularity_as_of and not hide:
        return lambda positions: {}
    before, first = ratings_before(train)
    before = tf.constant(before)
    if config.popularity_as_of or config.hide_new_days > 0:  # seconds since the movie's first rating
        since = tf.constant(train.timestamps - first[train.movies])

    def features(positions: tf.Tensor) -> dict[str, tf.Tensor]:
        earlier = tf.gather(before, positions)
        out = {}
        if config.popularity_as_of:
            out["target_popularity"] = popularity_columns(earlier, tf.gather(since, positions))
        if hide:
            new = earlier < config.hide_new_ids
            if config.hide_new_days > 0:
                new |= tf.gather(since, positions) < int(config.hide_new_days * 86_400)
            out["target_new"] = new
        return out

    return features


def ratings_at(prefix: str, columns: tuple[tf.Tensor, ...], positions: tf.Tensor, valid: tf.Tensor) -> dict:
    """`<prefix>_movies`, `_ratings`, `_timestamps` of the ratings at `positions` (any shape), 0 where not valid."""
    movies, ratings, timestamps = columns[:3]
    return {
        f"{prefix}_movies": tf.where(valid, tf.gather(movies, positions), 0),
        f"{prefix}_ratings": tf.where(valid, tf.gather(ratings, positions), 0.0),
        f"{prefix}_timestamps": tf.where(valid, tf.gather(timestamps, positions), tf.constant(0, tf.int64)),
    }


def loss_weight(rating: tf.Tensor, positives: str) -> tf.Tensor:
    """A target's loss weight: rating / 5 for positives="weighted", else 1."""
    return rating / 5.0 if positives == "weighted" else tf.ones_like(rating)


def shuffled_batches(
    items: np.ndarray, per_batch: int, seed: int, features: Callable[[tf.Tensor], dict[str, tf.Tensor]]
) -> tf.data.Dataset:
    """Endless batches of `items` (int64 ids), a new permutation of them every epoch (from seed and the
    epoch; the last partial batch dropped), each batch mapped by `features`, in parallel and in order."""
    values = tf.constant(items, tf.int64)
    last = tf.constant(len(items) - 1, tf.int64)
    steps = len(items) // per_batch

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(seed, tf.int64), epoch])
        order = tf.data.Dataset.range(steps * per_batch).batch(per_batch, drop_remainder=True)
        return order.map(lambda i: tf.gather(values, tf.random.experimental.index_shuffle(i, key, last)))

    return (
        tf.data.Dataset.range(2**40)
        .flat_map(epoch_batches)
        .map(features, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
