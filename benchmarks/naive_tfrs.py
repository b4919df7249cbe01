"""Peer for training-throughput comparisons: a two-tower model written the way the TFRS tutorials write it
(kept as the team wrote it, unchanged but for this path: benchmarks.train_throughput runs its main()).

Query tower: mean of the last H history-movie embeddings + one time feature -> MLP. Candidate tower: movie
embedding + a 64-d genome code + 20 genre bits -> MLP. Loss: tfrs.tasks.Retrieval (in-batch softmax).
Shapes are ml-latest's (86,538 movie slots). Run it in the same process session as the project's own
benchmark and quote the ratio, not the absolute figure: this machine is shared and noisy.

    python benchmarks/naive_tfrs.py --history 50 --batch 4096 --batches 60
prints one line: `naive_tfrs examples_per_s=<float> history=<H> batch=<B>`.
"""

import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

N_MOVIES, DIM = 86_538, 64


class QueryTower(keras.Model):
    def __init__(self):
        super().__init__()
        self.movie_embedding = keras.layers.Embedding(N_MOVIES, DIM, mask_zero=True)
        self.mlp = keras.Sequential([keras.layers.Dense(128, activation="relu"), keras.layers.Dense(DIM)])

    def call(self, features):
        history = features["history"]
        mask = tf.cast(history > 0, tf.float32)[..., None]
        pooled = tf.reduce_sum(self.movie_embedding(history) * mask, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1.0)
        return self.mlp(tf.concat([pooled, features["time"][:, None]], 1))


class CandidateTower(keras.Model):
    def __init__(self, genome, genres):
        super().__init__()
        self.movie_embedding = keras.layers.Embedding(N_MOVIES, DIM)
        self.genome, self.genres = tf.constant(genome), tf.constant(genres)
        self.mlp = keras.Sequential([keras.layers.Dense(128, activation="relu"), keras.layers.Dense(DIM)])

    def call(self, movie):
        feats = [self.movie_embedding(movie), tf.gather(self.genome, movie), tf.gather(self.genres, movie)]
        return self.mlp(tf.concat(feats, 1))


class TwoTower(tfrs.Model):
    def __init__(self, genome, genres):
        super().__init__()
        self.query, self.candidate = QueryTower(), CandidateTower(genome, genres)
        self.task = tfrs.tasks.Retrieval()

    def compute_loss(self, features, training=False):
        return self.task(self.query(features), self.candidate(features["target"]), compute_metrics=False)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--history", type=int, default=50)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--batches", type=int, default=60)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    n = a.batch * a.batches
    history = rng.integers(1, N_MOVIES, (n, a.history)).astype(np.int32)
    history[:, a.history // 2 :][rng.random((n, a.history - a.history // 2)) < 0.5] = 0
    data = {
        "history": history,
        "target": rng.integers(1, N_MOVIES, n).astype(np.int32),
        "time": rng.random(n).astype(np.float32),
    }
    genome = rng.random((N_MOVIES, 64)).astype(np.float32)
    genres = (rng.random((N_MOVIES, 20)) < 0.1).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices(data).batch(a.batch, drop_remainder=True).prefetch(2)
    model = TwoTower(genome, genres)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(ds.take(3), verbose=0)  # warm-up: tracing and first allocations
    start = time.perf_counter()
    model.fit(ds, verbose=0)
    rate = n / (time.perf_counter() - start)
    print(f"naive_tfrs examples_per_s={rate:.0f} history={a.history} batch={a.batch}")


if __name__ == "__main__":
    main()
