"""Two-tower training: prepared data -> genome codes -> towers -> TFRS retrieval fit with protocol validation.

Writes the model folder (pipelines.training.model_dir) and returns the final metrics; exporting is the
entry point's business (pipelines.train).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from pipelines.console import quiet_native_logs
from pipelines.data import atomic
from pipelines.data.dataset import Prepared
from pipelines.evaluation import metrics, per_case
from pipelines.evaluation.evaluator import evaluate
from pipelines.training import linear_member, model_dir
from pipelines.training.callbacks import EpochLine, ProtocolValidation, Throughput, duration
from pipelines.training.config import RunConfig, check_negatives
from pipelines.training.distribute import distributed_dataset, worker_dir
from pipelines.training.recommender import TowerRecommender
from pipelines.training.tables import movie_tables, sampling_probability
from towers.config import check_towers
from towers.towers import MovieTables

MEMBERS = "members"  # --members_apart: member k's own run is model_dir/members/k


def check_compatible(run: RunConfig) -> None:
    """Settings that cannot go together, refused before any work."""
    inputs, towers = run.input, run.towers
    if run.train.monitor not in metrics.METRICS:
        raise ValueError(
            f"--monitor={run.train.monitor!r} is not a ranking metric; known: {', '.join(metrics.METRICS)}"
        )
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
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(run.input.seed)
    start = time.perf_counter()
    tables = genome_tables(prepared, run, start)
    if trains_apart(run):
        return train_apart(prepared, run, strategy, tables, start)
    return fit(prepared, run, strategy, tables, start)


def genome_tables(prepared: Prepared, run: RunConfig, start: float) -> tuple[MovieTables, dict]:
    """The towers' per-movie tables, the genome encoder trained first where the release has a genome."""
    genome_movies = int(prepared.catalog.has_genome.sum())
    if genome_movies and run.genome.genome_encoder != "none":
        print(f"genome {run.genome.genome_encoder}: {genome_movies:,} movies x {len(prepared.catalog.genome_tags):,} "
              f"tags -> {run.genome.bottleneck} dimensions ...", flush=True)  # fmt: skip
    tables, genome_report = movie_tables(prepared, run.genome, run.input.seed)
    if "heldout_mse" in genome_report:
        epochs = f" after {genome_report['epochs_run']} epochs" if "epochs_run" in genome_report else ""
        print(f"genome {run.genome.genome_encoder}: held-out mse {genome_report['heldout_mse']:.4f}{epochs}, "
              f"{duration(time.perf_counter() - start)}", flush=True)  # fmt: skip
    return tables, genome_report


def trains_apart(run: RunConfig) -> bool:
    """Whether the run trains its members as runs of their own (--members_apart with --members above 1)."""
    return run.towers.members > 1 and run.train.members_apart


def member_run(run: RunConfig, k: int) -> RunConfig:
    """The k-th member's run of its own under --members_apart: one member, seed seed x K + k (so --members=1
    and member 0 of seed 0 are the same run), written to model_dir/members/k."""
    count = run.towers.members
    return dataclasses.replace(
        run,
        input=dataclasses.replace(run.input, seed=run.input.seed * count + k),
        # the joined model fits the linear member, not each member's run
        towers=dataclasses.replace(run.towers, members=1, linear_rank=0, linear_max_cases=0),
        train=dataclasses.replace(
            run.train, model_dir=str(Path(run.train.model_dir) / MEMBERS / str(k)), members_apart=False, export=False
        ),
    )


def train_apart(
    prepared: Prepared, run: RunConfig, strategy: tf.distribute.Strategy, tables: tuple[MovieTables, dict], start: float
) -> dict:
    """--members_apart: each member trains as a run of its own (own seed, batch order and early stopping,
    the same genome codes), a finished member is reused on a rerun; then their towers join side by side
    in one model (towers.members), which is scored and saved as any model folder is."""
    config = run.train
    _, out_dir = worker_dir(strategy, Path(config.model_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    model_dir.write_config(out_dir, model_dir.SavedConfig(run, prepared.catalog.num_movies,
                                                          prepared.figures.get("fingerprint")))  # fmt: skip
    members = []
    for k in range(run.towers.members):
        member = member_run(run, k)
        print(f"member {k + 1} of {run.towers.members} (seed {member.input.seed}) -> {member.train.model_dir}",
              flush=True)  # fmt: skip
        _, member_dir = worker_dir(strategy, Path(member.train.model_dir))
        if config.overwrite and (member_dir / model_dir.METRICS).exists():  # an interrupted member resumes
            shutil.rmtree(member_dir)
        metrics = model_dir.finished_run(member_dir, member)
        if metrics is None:
            keras.utils.set_random_seed(member.input.seed)
            metrics = fit(prepared, member, strategy, tables, time.perf_counter())
        else:
            print(f"member {k + 1}: reusing the finished run in {member_dir}", flush=True)
        members.append((member_dir, metrics))
    probability, first = sampling_probability(prepared, run.input), prepared.first_rated
    model_dir.save_tables(out_dir, tables[0], probability, first)
    with strategy.scope():
        model = model_dir.build_model(tables[0], run.towers, config, probability, first)
    for k, (member_dir, _) in enumerate(members):
        trained = model_dir.restore_model(member_dir)
        model.query_tower.members[k].set_weights(trained.query_tower.get_weights())
        model.candidate_tower.members[k].set_weights(trained.candidate_tower.get_weights())
    model.save_weights(str(out_dir / model_dir.WEIGHTS / "model"))
    summary = {
        "epochs_run": sum(m["epochs_run"] for _, m in members),
        "best_epoch": [m["best_epoch"] for _, m in members],
        "steps_per_epoch": members[0][1]["steps_per_epoch"],
        "seconds": round(time.perf_counter() - start, 1),
        "history": {"members": [m["history"] for _, m in members]},
        "genome_encoder": tables[1],
    }
    return score(model, prepared, run, strategy, out_dir, summary)


def fit(
    prepared: Prepared, run: RunConfig, strategy: tf.distribute.Strategy, tables: tuple[MovieTables, dict], start: float
) -> dict:
    """One model's fit with validation after each epoch, early stopping and the best weights."""
    inputs, config = run.input, run.train
    is_chief, out_dir = worker_dir(strategy, Path(config.model_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    tables, genome_report = tables
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
    summary = {
        "epochs_run": len(history.history["loss"]),
        "best_epoch": best,
        "steps_per_epoch": steps,
        "seconds": round(fit_seconds, 1),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "genome_encoder": genome_report,
    }
    return score(model, prepared, run, strategy, out_dir, summary)


def add_linear_member(
    query: keras.Model, candidate: keras.Model, prepared: Prepared, run: RunConfig, out_dir: Path
) -> tuple[tuple[keras.Model, keras.Model], dict]:
    """Fits the linear member (pipelines.training.linear_member) and writes it to the folder: (the towers
    with it, its report); the towers alone where validation chooses a weight of 0."""
    print(f"linear member: EASE on the training ratings, lambda and weight chosen on validation, rank "
          f"{run.towers.linear_rank} ...", flush=True)  # fmt: skip
    factors, report = linear_member.fit(
        query, candidate, prepared, run.towers.linear_rank, run.input.history_length, run.towers.members,
        run.train.monitor, run.towers.linear_max_cases or None, run.input.seed,
    )  # fmt: skip
    chosen = (
        "none, the towers alone"
        if factors is None
        else f"lambda {report['ease_lambda']:g}, weight {report['weight']:g}"
    )
    print(f"linear member: {chosen} (validation {run.train.monitor} {report['validation']:.4f} on "
          f"{report['validation_cases']:,} cases; {report['items']:,} movies, rank {report['rank']}), "
          f"{duration(report['fit_seconds'])}", flush=True)  # fmt: skip
    (out_dir / model_dir.LINEAR).unlink(missing_ok=True)
    if factors is None:
        return (query, candidate), report
    model_dir.save_linear(out_dir, factors)
    return factors.towers(query, candidate), report


def score(
    model: keras.Model, prepared: Prepared, run: RunConfig, strategy: tf.distribute.Strategy, out_dir: Path,
    summary: dict,
) -> dict:  # fmt: skip
    """Scores the model's weights on both windows (with --linear_rank, the linear member fitted first);
    writes metrics.json (the summary of the fit beside the figures) and per_case.npz, and returns the
    metrics."""
    query, candidate = model.query_tower, model.candidate_tower
    if run.towers.linear_rank > 0:
        (query, candidate), summary["linear_member"] = add_linear_member(query, candidate, prepared, run, out_dir)
    print(f"scoring the best weights (epoch {summary['best_epoch']}) on the validation and test windows ...",
          flush=True)  # fmt: skip
    num_movies, train_counts = prepared.catalog.num_movies, prepared.train_counts
    recommender = TowerRecommender(query, candidate, num_movies, run.input.history_length)
    final = {
        window: evaluate(recommender, cases, num_movies, train_counts, resamples=1000)
        for window, cases in (("validation", prepared.split.val), ("test", prepared.split.test))
    }
    per_case.save(out_dir / per_case.FILE, {recommender.name: {w: e.per_case for w, e in final.items()}})
    metrics = {
        **summary,
        "replicas": strategy.num_replicas_in_sync,
        "weights_checksum": float(sum(np.abs(w).sum() for w in model.get_weights())),
        **{window: result.to_json() for window, result in final.items()},
    }
    atomic.write_json(out_dir / model_dir.METRICS, metrics)
    return metrics
