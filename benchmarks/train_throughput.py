"""Benchmark: training examples/s of the default model on ml-latest shapes, against the naive TFRS peer.

    python -m benchmarks.train_throughput [--steps=320] [--chunk_length=8] [--peer=../shared/bench/naive_tfrs.py]

Both run in this session, one after the other, each in its own process: the peer
(`naive_tfrs.py --history 50 --batch 4096 --batches 60`, a tutorial-style loop) and this project's
training step (the real towers, TFRS task, tf.data input pipeline and optimizer) on synthetic
per-user arrays with ml-latest's shapes: 86,537 movies, 1,128-tag genome compressed to 64-d codes,
history 50. Reports the ratio; targets (issue 4): >= 4x the peer and >= 50k examples/s on this 2-core CPU.
Ours is timed over the whole fit call (as the peer is) and between its first and last step; fit's own start
and stop cost here varies from ~0 to ~5 s between runs, which a 320-step run feels.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from absl import app, flags

from benchmarks.measure import run_measured
from pipelines.input import InputConfig

FLAGS = flags.FLAGS
DEFAULT_PEER = Path(__file__).resolve().parents[2] / "shared" / "bench" / "naive_tfrs.py"


def ours_main(steps: int, batch_size: int, ratings: int, chunk_length: int) -> None:
    """Runs in the child process: times `steps` training steps after a warm-up."""
    import time

    import numpy as np
    import tf_keras as keras

    from pipelines.input import InputConfig, training_dataset
    from pipelines.split import Interactions
    from pipelines.training import TrainConfig, build_model
    from towers.towers import MovieTables, TowerConfig

    movies, users = 86_537, max(ratings // 100, 1)
    rng = np.random.default_rng(0)
    offsets = np.concatenate([[0], np.sort(rng.choice(np.arange(1, ratings), users - 1, replace=False)), [ratings]])
    popularity = 1.0 / np.arange(1, movies + 1) ** 0.9
    train = Interactions(
        user_ids=np.arange(users),
        offsets=offsets.astype(np.int64),
        movies=(rng.choice(movies, ratings, p=popularity / popularity.sum()) + 1).astype(np.int32),
        ratings=rng.integers(1, 11, ratings).astype(np.float32) / 2,
        timestamps=np.sort(rng.integers(789_652_009, 1_689_811_200, ratings)),
    )
    tables = MovieTables(
        slots=np.arange(movies + 1, dtype=np.int32),
        content=rng.normal(size=(movies + 1, 64 + 1 + 20 + 3)).astype(np.float32),
        year_buckets=rng.integers(0, 26, movies + 1).astype(np.int32),
        title_tokens=rng.integers(0, 20_000, (movies + 1, 8)).astype(np.int32),
    )
    inputs = InputConfig(batch_size=batch_size, chunk_length=chunk_length)
    probability = np.bincount(train.movies, minlength=movies + 1) / ratings + 1e-9
    first_rated = np.full(movies + 1, train.timestamps[-1], np.int64)
    np.minimum.at(first_rated, train.movies, train.timestamps)
    model = build_model(tables, TowerConfig(), TrainConfig(), probability, first_rated)
    dataset, _ = training_dataset(train, inputs)
    per_call = TrainConfig().steps_per_execution
    model.fit(dataset, steps_per_epoch=2 * per_call, epochs=1, verbose=0)  # tracing, first allocations
    ends: list[float] = []  # one per steps_per_execution steps

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            ends.append(time.perf_counter())

    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[Clock()])
    rate = steps * batch_size / (time.perf_counter() - start)
    steady = (len(ends) - 1) * per_call * batch_size / (ends[-1] - ends[0])
    print(f"ours examples_per_s={rate:.0f} steady_examples_per_s={steady:.0f} history={inputs.history_length} "
          f"batch={batch_size}")  # fmt: skip


def main(argv: list[str]) -> None:
    del argv
    peer = run_measured([FLAGS.peer, "--history", "50", "--batch", "4096", "--batches", "60"])
    ours = run_measured(
        [
            "-m",
            "benchmarks.train_throughput",
            "--child",
            f"--steps={FLAGS.steps}",
            f"--batch_size={FLAGS.batch_size}",
            f"--ratings={FLAGS.ratings}",
            f"--chunk_length={FLAGS.chunk_length}",
        ]
    )
    peer_rate = float(re.search(r"examples_per_s=([\d.]+)", peer.stdout).group(1))
    ours_rate = float(re.search(r"ours examples_per_s=([\d.]+)", ours.stdout).group(1))
    steady_rate = float(re.search(r"steady_examples_per_s=([\d.]+)", ours.stdout).group(1))
    result = {
        "naive_tfrs_examples_per_s": round(peer_rate),
        "ours_examples_per_s": round(ours_rate),
        "ratio": round(ours_rate / peer_rate, 2),
        "ours_steady_examples_per_s": round(steady_rate),
        "steady_ratio": round(steady_rate / peer_rate, 2),
        "ours_peak_rss_gb": round(ours.peak_rss_gb, 2),
        "naive_peak_rss_gb": round(peer.peak_rss_gb, 2),
        "batch_size": FLAGS.batch_size,
        "chunk_length": FLAGS.chunk_length,
        "history": 50,
    }
    print(f"naive TFRS (batch 4096): {peer_rate:>10,.0f} examples/s")
    print(f"this project (batch {FLAGS.batch_size}): {ours_rate:>10,.0f} examples/s  ratio {result['ratio']}x"
          f" (between its first and last step: {steady_rate:,.0f}, {result['steady_ratio']}x)")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    flags.DEFINE_bool("child", False, "Internal: run the timed training in this process.")
    flags.DEFINE_integer("steps", 320, "Timed training steps.")
    flags.DEFINE_integer("batch_size", 1024, "Training batch size of this project's run.")
    flags.DEFINE_integer("ratings", 5_000_000, "Ratings in the synthetic per-user arrays.")
    flags.DEFINE_integer(
        "chunk_length", InputConfig().chunk_length, "Training chunk length (0 = independent examples)."
    )
    flags.DEFINE_string("peer", str(DEFAULT_PEER), "Path of naive_tfrs.py.")
    app.run(
        lambda argv: (
            ours_main(FLAGS.steps, FLAGS.batch_size, FLAGS.ratings, FLAGS.chunk_length) if FLAGS.child else main(argv)
        )
    )
    sys.exit(0)
