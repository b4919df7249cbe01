"""Two-tower training: prepared data -> genome codes -> towers -> TFRS retrieval fit with protocol validation.

Writes the model folder (pipelines.training.model_dir) and returns the final metrics; exporting is the
entry point's business (pipelines.train).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from pipelines.console import quiet_native_logs
from pipelines.data import atomic
from pipelines.data.dataset import Prepared
from pipelines.evaluation import per_case
from pipelines.evaluation.evaluator import evaluate
from pipelines.training import model_dir
from pipelines.training.callbacks import EpochLine, ProtocolValidation, Throughput, duration
from pipelines.training.config import RunConfig, check_negatives
from pipelines.training.distribute import distributed_dataset, worker_dir
from pipelines.training.recommender import TowerRecommender
from pipelines.training.tables import movie_tables, sampling_probability
from towers.config import check_towers


def check_compatible(run: RunConfig) -> None:
    """Settings that cannot go together, refused before any work."""
    inputs, towers = run.input, run.towers
    if inputs.chunk_length > 0 and towers.pooling != "weighted":
        raise ValueError(f"pooling={towers.pooling!r} needs independent examples: set chunk_length=0")
    if inputs.chunk_length > 0 and inputs.positives == "liked":
        raise ValueError("positives='liked' needs independent examples: set chunk_length=0")
    if towers.pooling == "two_scale" and towers.recent_length >= inputs.history_length:
        raise ValueError(f"pooling='two_scale' needs recent_length ({towers.recent_length}) below history_length "
                         f"({inputs.history_length})")  # fmt: skip
    if run.train.catalog_negatives < 0 and (inputs.hide_new_ids > 0 or inputs.hide_new_days > 0):
        raise ValueError(
            "--catalog_negatives=-1 needs --hide_new_ids=0 and --hide_new_days=0: the full softmax's negatives"
            " are the rated movies as the index holds them, so a target shown as never rated would be a negative"
            " of nobody but its own batch (measured: the top-20 fills with never-rated movies)"
        )
    check_towers(towers)
    check_negatives(run.train)


def train(prepared: Prepared, run: RunConfig, strategy: tf.distribute.Strategy | None = None) -> dict:
    """Fits the model with validation after each epoch; returns (and writes) the final metrics."""
    check_compatible(run)
    inputs, config = run.input, run.train
    strategy = strategy or tf.distribute.get_strategy()
    is_chief, out_dir = worker_dir(strategy, Path(config.model_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(inputs.seed)
    start = time.perf_counter()
    genome_movies = int(prepared.catalog.has_genome.sum())
    if genome_movies and run.genome.genome_encoder != "none":
        print(f"genome {run.genome.genome_encoder}: {genome_movies:,} movies x {len(prepared.catalog.genome_tags):,} "
              f"tags -> {run.genome.bottleneck} dimensions ...", flush=True)  # fmt: skip
    tables, genome_report = movie_tables(prepared, run.genome, inputs.seed)
    if "heldout_mse" in genome_report:
        epochs = f" after {genome_report['epochs_run']} epochs" if "epochs_run" in genome_report else ""
        print(f"genome {run.genome.genome_encoder}: held-out mse {genome_report['heldout_mse']:.4f}{epochs}, "
              f"{duration(time.perf_counter() - start)}", flush=True)  # fmt: skip
    probability = sampling_probability(prepared, inputs)
    num_movies = prepared.catalog.num_movies
    model_dir.check_resumable(Path(config.model_dir), out_dir, run)
    model_dir.write_config(out_dir, model_dir.SavedConfig(run, num_movies, prepared.figures.get("fingerprint")))
    first = prepared.first_rated
    model_dir.save_tables(out_dir, tables, probability, first)

    with strategy.scope():
        model = model_dir.build_model(tables, run.towers, config, probability, first)
    dataset, full_steps = distributed_dataset(strategy, prepared.split.train, inputs)
    steps = min(full_steps, config.steps_per_epoch) if config.steps_per_epoch > 0 else full_steps
    train_counts = prepared.train_counts
    validation = ProtocolValidation(
        prepared.split.val, num_movies, train_counts, inputs.history_length, out_dir / "tensorboard" / "validation"
    )
    callbacks = [
        keras.callbacks.BackupAndRestore(str(Path(config.model_dir) / model_dir.BACKUP)),
        Throughput(inputs.batch_size),
        validation,
        EpochLine(config.monitor),
        keras.callbacks.EarlyStopping(
            monitor=f"val_{config.monitor}", mode="max", patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.TensorBoard(str(out_dir / "tensorboard"), update_freq=max(steps // 20, 1)),
    ]
    with quiet_native_logs():  # XLA's "Compiled cluster" and the like
        history = model.fit(
            dataset,
            epochs=config.epochs,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=0,
        )
    model.save_weights(str(out_dir / model_dir.WEIGHTS / "model"))
    if is_chief:  # completed: the next run starts afresh
        shutil.rmtree(Path(config.model_dir) / model_dir.BACKUP, ignore_errors=True)
    fit_seconds = time.perf_counter() - start

    best = validation.best_epoch(config.monitor)
    print(f"scoring the best weights (epoch {best}) on the validation and test windows ...", flush=True)
    recommender = TowerRecommender(model.query_tower, model.candidate_tower, num_movies, inputs.history_length)
    final = {
        window: evaluate(recommender, cases, num_movies, train_counts, resamples=1000)
        for window, cases in (("validation", prepared.split.val), ("test", prepared.split.test))
    }
    per_case.save(out_dir / per_case.FILE, {recommender.name: {w: e.per_case for w, e in final.items()}})
    metrics = {
        "epochs_run": len(history.history["loss"]),
        "best_epoch": best,
        "steps_per_epoch": steps,
        "seconds": round(fit_seconds, 1),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "genome_encoder": genome_report,
        "replicas": strategy.num_replicas_in_sync,
        "weights_checksum": float(sum(np.abs(w).sum() for w in model.get_weights())),
        **{window: result.to_json() for window, result in final.items()},
    }
    atomic.write_json(out_dir / model_dir.METRICS, metrics)
    return metrics
