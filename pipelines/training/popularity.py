"""A movie's popularity features, from training ratings only: as of T_val for the towers' fixed tables,
and optionally as of each training target's own time (so that training sees movies as young and as
little rated as the never-rated ones look at T_val).

Three columns, each / 10: log(1 + ratings), years since the movie's first rating, log(1 + ratings per
year on the catalog). A movie nobody rated yet has all three at 0, exactly as a movie's first rating
sees it.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pipelines.data.split import Interactions
from towers.layers import SECONDS_PER_YEAR


def popularity_columns(counts: tf.Tensor, seconds: tf.Tensor) -> tf.Tensor:
    """[..., 3] float32 features of movies with `counts` earlier ratings, first rated `seconds` ago."""
    counts, years = tf.cast(counts, tf.float32), tf.cast(seconds, tf.float32) / SECONDS_PER_YEAR
    rate = tf.math.log1p(counts / tf.maximum(years, 1 / 12))
    return tf.stack([tf.math.log1p(counts), years, rate], axis=-1) / 10


def ratings_before(train: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """Per training position, how many training ratings of its movie come earlier in time (ties in the
    users' order), int32 [P]; and each movie's first training rating time, int64 [max movie + 1]."""
    movies, times = train.movies, train.timestamps
    if len(times) and int(times.max()) - int(times.min()) < 2**32:  # one int64 key: 25% faster, half the memory
        order = np.argsort((movies.astype(np.int64) << 32) | (times - times.min()), kind="stable")
    else:
        order = np.lexsort((times, movies))
    in_order = movies[order]
    counts = np.bincount(in_order)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    before = np.empty(len(movies), np.int32)
    before[order] = np.arange(len(movies)) - starts[in_order]
    first = np.full(int(movies.max(initial=0)) + 1, np.iinfo(np.int64).max, np.int64)
    earliest = order[starts[np.flatnonzero(counts)]]  # each rated movie's first rating: first in the sort
    first[movies[earliest]] = times[earliest]
    return before, first
