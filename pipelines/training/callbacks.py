"""Keras callbacks of the training loop: protocol validation each epoch, examples per second, and the
one short line per epoch the console shows."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

from pipelines.data.split import Cases
from pipelines.evaluation.evaluator import batches, evaluate
from pipelines.training.recommender import TowerRecommender

FACTORIZED_KS = (10, 50, 100)


class Throughput(keras.callbacks.Callback):
    """Adds `examples_per_s` to the logs (so the progress bar shows it) and to TensorBoard."""

    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self.batch_size = batch_size

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start, self.first_batch, self.last_batch = time.perf_counter(), None, None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.first_batch is None:  # skip the first call: it includes tracing
            self.first_batch, self.start = batch, time.perf_counter()
            return
        self.last_batch = batch
        if logs is not None:
            logs["examples_per_s"] = self.rate()

    def rate(self) -> float:
        if self.first_batch is None or self.last_batch is None:
            return 0.0
        elapsed = time.perf_counter() - self.start
        return (self.last_batch - self.first_batch) * self.batch_size / elapsed if elapsed > 0 else 0.0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["examples_per_s"] = self.rate()


class ProtocolValidation(keras.callbacks.Callback):
    """After each epoch: full-catalog protocol metrics on the validation window (history excluded), plus
    TFRS factorized top-K accuracy of each case's first relevant target, into the logs as `val_<metric>`
    (for early stopping) and into TensorBoard."""

    def __init__(
        self, cases: Cases, num_movies: int, train_counts: np.ndarray, history_length: int, log_dir: Path
    ) -> None:
        super().__init__()
        self.cases, self.num_movies, self.train_counts = cases, num_movies, train_counts
        self.history_length = history_length
        self.writer = tf.summary.create_file_writer(str(log_dir))
        self.scores: list[dict[str, float]] = []
        # Built here, outside fit's distribution scope: metric variables created inside it would be
        # per-replica and refuse the cross-replica updates this callback makes.
        self.index = tfrs.layers.factorized_top_k.BruteForce(k=max(FACTORIZED_KS))
        self.factorized = tfrs.metrics.FactorizedTopK(candidates=self.index, ks=FACTORIZED_KS)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        recommender = TowerRecommender(
            self.model.query_tower, self.model.candidate_tower, self.num_movies, self.history_length
        )
        means = {k: v for k, v in evaluate(recommender, self.cases, self.num_movies, self.train_counts).means().items()}
        means.update(self.factorized_top_k(recommender))
        self.scores.append(means)
        with self.writer.as_default(step=epoch):
            for name, value in means.items():
                tf.summary.scalar(f"validation/{name}", value)
            if logs and "examples_per_s" in logs:
                tf.summary.scalar("train/examples_per_s", logs["examples_per_s"])
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in means.items()})

    def factorized_top_k(self, recommender) -> dict[str, float]:
        self.index.index(tf.constant(recommender.candidates[1:]), tf.range(1, self.num_movies + 1))
        metric = self.factorized
        metric.reset_states()
        first = self.cases.target_movies[self.cases.target_offsets[:-1]]
        for rows, queries in batches(self.cases):
            query = recommender.embed(queries)
            metric.update_state(
                tf.constant(query),
                tf.constant(recommender.candidates[first[rows]]),
                true_candidate_ids=tf.constant(first[rows]),
            )
        return {f"factorized_top_{k}": float(v) for k, v in zip(FACTORIZED_KS, metric.result(), strict=True)}

    def best_epoch(self, monitor: str) -> int:
        return int(np.argmax([s[monitor] for s in self.scores])) + 1 if self.scores else 0


class EpochLine(keras.callbacks.Callback):
    """One line per epoch on stdout in place of Keras' progress bar (which prints every logged metric):
    loss, validation recall@20 and ndcg@10 (a star where the monitored metric improved), examples/s, the
    epoch's seconds and at most how long is left (early stopping may end sooner)."""

    def __init__(self, monitor: str) -> None:
        super().__init__()
        self.monitor = f"val_{monitor}"
        self.best = -np.inf
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.seconds.append(time.perf_counter() - self.start)
        improved = logs.get(self.monitor, -np.inf) > self.best
        self.best = max(self.best, logs.get(self.monitor, -np.inf))
        epochs = self.params.get("epochs", epoch + 1)
        left = (epochs - epoch - 1) * float(np.mean(self.seconds))
        parts = [
            f"epoch {epoch + 1:>{len(str(epochs))}}/{epochs}",
            f"loss {logs.get('loss', float('nan')):.4f}",
            f"val recall@20 {logs.get('val_recall@20', float('nan')):.4f}{'*' if improved else ' '}",
            f"ndcg@10 {logs.get('val_ndcg@10', float('nan')):.4f}",
            f"{logs.get('examples_per_s', 0):>9,.0f} examples/s",
            f"{self.seconds[-1]:4.0f} s",
        ]
        if left > 0:
            parts.append(f"at most {duration(left)} left")
        print("  ".join(parts), file=sys.stdout, flush=True)


def duration(seconds: float) -> str:
    """12 s, 3 min, 1 h 05 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
