"""Two-tower training: prepared data -> genome codes -> towers -> TFRS retrieval fit with protocol validation.

The model directory holds: config.json (the resolved configuration), tables.npz (the fixed per-movie
tables the towers look up), weights/ (best weights), backup/ (while training: resume point),
tensorboard/, metrics.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from pipelines.content import build_content
from pipelines.dataset import Prepared
from pipelines.evaluation import evaluate
from pipelines.input import InputConfig, target_positions, training_dataset
from pipelines.split import Interactions
from pipelines.training_callbacks import ProtocolValidation, Throughput
from towers.genome_encoder import GenomeConfig, genome_codes
from towers.layers import SECONDS_PER_YEAR
from towers.lazy_adam import LazyAdam
from towers.retrieval import TwoTowerModel
from towers.towers import CandidateTower, MovieTables, QueryTower, TowerConfig


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Attributes:
    model_dir: where everything is written (and resumed from).
    epochs: maximum epochs; steps_per_epoch: cap on steps per epoch (0 = a full pass over the targets).
    learning_rate: Adam learning rate.  temperature: softmax temperature over cosines.
    logq: correct in-batch negatives by their sampling probability.
    remove_accidental_hits: leave in-batch copies of a query's own positive movie out of its negatives.
    mask_future_negatives: leave out of a query's softmax the in-batch movies first rated after its time.
    patience: epochs without a better validation `monitor` before stopping.
    monitor: protocol metric for early stopping (recall@20 by default).
    steps_per_execution: training steps per tf.function call (amortises Python overhead).
    jit_compile: compile the training step with XLA (fuses the many small ops of a step; one replica
      only: under several replicas the step runs uncompiled).
    export: after training, write the export (SavedModel + ScaNN index, export.build) into model_dir/export.
    strategy: "default" (one device), "mirrored" (all GPUs of this machine, or the logical CPUs made by
      cpu_replicas), or "multi_worker" (MultiWorkerMirroredStrategy over the machines in TF_CONFIG).
    cpu_replicas: split the CPU into this many logical devices (to run "mirrored" without GPUs).
    """

    model_dir: str = "runs/model"
    epochs: int = 10
    steps_per_epoch: int = 0
    learning_rate: float = 3e-3
    temperature: float = 0.1
    logq: bool = True
    remove_accidental_hits: bool = True
    mask_future_negatives: bool = True
    patience: int = 3
    monitor: str = "recall@20"
    steps_per_execution: int = 16
    jit_compile: bool = True
    export: bool = True
    strategy: str = "default"
    cpu_replicas: int = 0


STRATEGIES = ("default", "mirrored", "multi_worker")


def make_strategy(config: TrainConfig) -> tf.distribute.Strategy:
    """The tf.distribute strategy; create it before any other TensorFlow work (multi-worker needs that)."""
    if config.strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {config.strategy!r}")
    if config.cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * config.cpu_replicas)
    if config.strategy == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if config.strategy == "multi_worker":
        tf.config.experimental.enable_op_determinism()  # every worker must derive identical genome codes
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def worker_dir(strategy: tf.distribute.Strategy, model_dir: Path) -> tuple[bool, Path]:
    """(is chief, where this worker writes): the chief writes into model_dir, others into model_dir/workers/."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type, task_id = (resolver.task_type, resolver.task_id) if resolver else (None, None)
    is_chief = task_type in (None, "chief") or (task_type == "worker" and task_id == 0
                                                 and "chief" not in resolver.cluster_spec().as_dict())  # fmt: skip
    return is_chief, model_dir if is_chief else model_dir / "workers" / f"{task_type}-{task_id}"


def distributed_dataset(strategy: tf.distribute.Strategy, train: Interactions, inputs: InputConfig):
    """(dataset, steps per epoch): one pipeline per worker, each taking its shard of the targets."""
    if strategy.num_replicas_in_sync == 1 and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return training_dataset(train, inputs)
    _, steps = training_dataset(train, inputs)

    def per_worker(context: tf.distribute.InputContext) -> tf.data.Dataset:
        batch = context.get_per_replica_batch_size(inputs.batch_size)
        return training_dataset(train, inputs, shard=(context.input_pipeline_id, context.num_input_pipelines),
                                batch_size=batch)[0]  # fmt: skip

    return strategy.distribute_datasets_from_function(per_worker), steps


def movie_tables(prepared: Prepared, genome: GenomeConfig, seed: int) -> tuple[MovieTables, dict]:
    """Fixed lookup tables from training data and content only (slots from ratings before T_val)."""
    content = build_content(prepared.catalog)
    codes = genome_codes(content.genome, content.has_genome, genome, seed)
    seen = prepared.train_counts > 0
    seen[0] = False
    slots = np.zeros(len(seen), np.int32)
    slots[seen] = np.arange(1, seen.sum() + 1)
    dense = np.concatenate(
        [codes.codes, content.has_genome[:, None], content.genres, popularity_features(prepared)], axis=1
    ).astype(np.float32)
    tables = MovieTables(
        slots=slots, content=dense, year_buckets=content.year_buckets, title_tokens=content.title_tokens
    )
    return tables, codes.report


def popularity_features(prepared: Prepared) -> np.ndarray:
    """[n + 1, 3] per movie from training ratings only: log count, years on the catalog before T_val
    (first training rating to T_val; 0 for unseen movies) and log ratings per year."""
    counts = prepared.train_counts.astype(np.float64)
    years = (prepared.split.t_val - prepared.first_rated) / SECONDS_PER_YEAR
    rate = np.log1p(counts / np.maximum(years, 1 / 12))
    return np.stack([np.log1p(counts) / 10, years / 10, rate / 10], axis=1)


def sampling_probability(prepared: Prepared, config: InputConfig) -> np.ndarray:
    """[n + 1] share of training targets per movie: the in-batch candidate sampling probability."""
    targets = prepared.split.train.movies[target_positions(prepared.split.train, config.positives)]
    counts = np.bincount(targets, minlength=prepared.catalog.num_movies + 1).astype(np.float64)
    return np.maximum(counts / max(counts.sum(), 1.0), 1e-9).astype(np.float32)


def build_model(
    tables: MovieTables,
    towers: TowerConfig,
    train: TrainConfig,
    probability: np.ndarray | None,
    first_rated: np.ndarray | None = None,
) -> TwoTowerModel:
    """The compiled two-tower model; probability and first_rated ([n + 1] per movie) feed the logQ
    correction and the future-negative mask when those are on."""
    candidate = CandidateTower(tables, towers, name="candidate_tower")
    shared = candidate.id_embedding if towers.share_id_embedding else None
    model = TwoTowerModel(
        QueryTower(tables, towers, id_embedding=shared, name="query_tower"),
        candidate,
        temperature=train.temperature,
        sampling_probability=probability if train.logq else None,
        remove_accidental_hits=train.remove_accidental_hits,
        first_rated=first_rated if train.mask_future_negatives else None,
    )
    jit = train.jit_compile and tf.distribute.get_strategy().num_replicas_in_sync == 1
    model.compile(
        optimizer=LazyAdam(train.learning_rate, jit_compile=jit),
        steps_per_execution=train.steps_per_execution,
        jit_compile=jit,
    )
    dummy = {
        "history_movies": tf.zeros((2, 3), tf.int32),
        "history_ratings": tf.zeros((2, 3)),
        "history_timestamps": tf.zeros((2, 3), tf.int64),
        "query_timestamp": tf.zeros((2,), tf.int64),
        "target": tf.constant([1, 1], tf.int32),
        "weight": tf.ones((2,)),
    }
    model.compute_loss(dummy)  # creates every weight, so checkpoints restore into a complete model
    model.built = True  # a tfrs.Model has no call(); Keras checks this flag before backup/restore
    return model


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    os.replace(tmp, path)


def save_tables(model_dir: Path, tables: MovieTables, probability: np.ndarray, first: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=model_dir, suffix=".npz")
    os.close(fd)
    np.savez(tmp, probability=probability, first_rated=first, **dataclasses.asdict(tables))
    os.replace(tmp, model_dir / "tables.npz")


def restore_model(model_dir: Path) -> TwoTowerModel:
    """Rebuilds the model of a model directory and loads its best weights."""
    config = json.loads((model_dir / "config.json").read_text())
    with np.load(model_dir / "tables.npz") as z:
        tables = MovieTables(**{f.name: z[f.name] for f in dataclasses.fields(MovieTables)})
        probability = z["probability"]
        first = z["first_rated"] if "first_rated" in z.files else None  # folders from before the mask
    model = build_model(tables, TowerConfig(**config["towers"]), TrainConfig(**config["train"]), probability, first)
    model.load_weights(str(model_dir / "weights" / "model")).expect_partial()
    return model


def check_resumable(model_dir: Path, out_dir: Path, resolved: dict) -> None:
    """An interrupted run (model_dir/backup) resumes only with the tower and genome settings it started
    with: its checkpoint holds weights of those shapes. Settings its config.json lacks are not compared."""
    previous = out_dir / "config.json"
    if not (model_dir / "backup").exists() or not previous.exists():
        return
    started = json.loads(previous.read_text())
    changed = [
        f"--{key} {started[group][key]!r} -> {value!r}"
        for group in ("towers", "genome")
        for key, value in resolved.get(group, {}).items()
        if key in started.get(group, {}) and started[group][key] != value
    ]
    if changed:
        raise ValueError(
            f"{model_dir} holds an interrupted run started with other settings ({', '.join(changed)}): "
            "pass the same flags to resume it, or use a new --model_dir"
        )


def train(
    prepared: Prepared,
    inputs: InputConfig,
    towers: TowerConfig,
    genome: GenomeConfig,
    config: TrainConfig,
    resolved: dict,
    strategy: tf.distribute.Strategy | None = None,
    export_config=None,
) -> dict:
    """Fits the model with validation after each epoch; returns (and writes) the final metrics."""
    if inputs.chunk_length > 0 and towers.pooling != "weighted":
        raise ValueError(f"pooling={towers.pooling!r} needs independent examples: set chunk_length=0")
    if inputs.chunk_length > 0 and inputs.positives == "liked":
        raise ValueError("positives='liked' needs independent examples: set chunk_length=0")
    strategy = strategy or tf.distribute.get_strategy()
    is_chief, out_dir = worker_dir(strategy, Path(config.model_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(inputs.seed)
    start = time.perf_counter()
    tables, genome_report = movie_tables(prepared, genome, inputs.seed)
    probability = sampling_probability(prepared, inputs)
    num_movies = prepared.catalog.num_movies
    fingerprint = prepared.figures.get("fingerprint")
    check_resumable(Path(config.model_dir), out_dir, resolved)
    _write_json(out_dir / "config.json", {**resolved, "num_movies": num_movies, "data_fingerprint": fingerprint})
    first = prepared.first_rated
    save_tables(out_dir, tables, probability, first)

    with strategy.scope():
        model = build_model(tables, towers, config, probability, first)
    dataset, full_steps = distributed_dataset(strategy, prepared.split.train, inputs)
    steps = min(full_steps, config.steps_per_epoch) if config.steps_per_epoch > 0 else full_steps
    train_counts = prepared.train_counts
    validation = ProtocolValidation(
        prepared.split.val, num_movies, train_counts, inputs.history_length, out_dir / "tensorboard" / "validation"
    )
    callbacks = [
        keras.callbacks.BackupAndRestore(str(Path(config.model_dir) / "backup")),
        Throughput(inputs.batch_size),
        validation,
        keras.callbacks.EarlyStopping(
            monitor=f"val_{config.monitor}", mode="max", patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.TensorBoard(str(out_dir / "tensorboard"), update_freq=max(steps // 20, 1)),
    ]
    history = model.fit(
        dataset,
        epochs=config.epochs,
        steps_per_epoch=steps,
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    model.save_weights(str(out_dir / "weights" / "model"))
    if is_chief:
        shutil.rmtree(Path(config.model_dir) / "backup", ignore_errors=True)  # completed: next run starts afresh
    fit_seconds = time.perf_counter() - start

    from pipelines.model_recommender import TowerRecommender

    recommender = TowerRecommender(model.query_tower, model.candidate_tower, num_movies, inputs.history_length)
    final = {
        window: evaluate(recommender, cases, num_movies, train_counts, resamples=1000).to_json()
        for window, cases in (("validation", prepared.split.val), ("test", prepared.split.test))
    }
    metrics = {
        "epochs_run": len(history.history["loss"]),
        "best_epoch": validation.best_epoch(config.monitor),
        "steps_per_epoch": steps,
        "seconds": round(fit_seconds, 1),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "genome_encoder": genome_report,
        "replicas": strategy.num_replicas_in_sync,
        "weights_checksum": float(sum(np.abs(w).sum() for w in model.get_weights())),
        **final,
    }
    _write_json(out_dir / "metrics.json", metrics)
    if config.export and is_chief:
        from export.build import ExportConfig, export_model  # export/ needs scann; imported only to export

        export_model(out_dir, config=export_config or ExportConfig(), prepared=prepared)
    return metrics
