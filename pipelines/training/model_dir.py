"""The model folder that `pipelines.train` writes and everything else reads: its format, in one place.

    config.json   the run's RunConfig groups, plus num_movies and data_fingerprint (the prepared data)
    tables.npz    the towers' fixed per-movie tables (MovieTables), the sampling probability, first_rated
    linear.npz    with --linear_rank, the linear member's factors (towers.linear_member), fitted after training
    weights/      the best weights (a TensorFlow checkpoint of the whole TwoTowerModel)
    backup/       while training: the resume point (BackupAndRestore)
    tensorboard/  training and validation curves
    metrics.json  the final validation and test figures
    per_case.npz  their values case by case (pipelines.evaluation.per_case)

`build_model` makes the compiled model of a configuration; `restore_model` rebuilds a folder's model with
its best weights; `restore_towers` gives the towers the folder serves (with its linear member, if any);
`check_fingerprint` refuses a model trained on other data.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from pipelines.data import atomic
from pipelines.data.errors import DataError
from pipelines.training.config import RunConfig, TrainConfig, check_negatives
from towers.config import TowerConfig
from towers.lazy_adam import LazyAdam
from towers.linear_member import LinearFactors
from towers.members import Members
from towers.negatives import CatalogNegatives
from towers.retrieval import TwoTowerModel
from towers.towers import CandidateTower, MovieTables, QueryTower

CONFIG = "config.json"
TABLES = "tables.npz"
LINEAR = "linear.npz"
WEIGHTS = "weights"
BACKUP = "backup"
METRICS = "metrics.json"


@dataclasses.dataclass(frozen=True)
class SavedConfig:
    """A model folder's config.json: the run's configuration and the data it was trained on."""

    run: RunConfig
    num_movies: int
    data_fingerprint: str | None

    def to_json(self) -> dict:
        return {**self.run.to_json(), "num_movies": self.num_movies, "data_fingerprint": self.data_fingerprint}


def write_config(out_dir: Path, saved: SavedConfig) -> None:
    atomic.write_json(out_dir / CONFIG, saved.to_json())


def read_config(model_dir: Path) -> SavedConfig:
    """config.json of a trained model folder (any age: see RunConfig.from_json)."""
    path = Path(model_dir) / CONFIG
    if not path.exists() or not (Path(model_dir) / WEIGHTS).exists():
        raise DataError(f"not a trained model directory (no {CONFIG} or {WEIGHTS}/)", path=model_dir)
    payload = json.loads(path.read_text())
    return SavedConfig(RunConfig.from_json(payload), int(payload["num_movies"]), payload.get("data_fingerprint"))


def check_fingerprint(model_dir: Path, saved: SavedConfig, fingerprint: str | None) -> None:
    """Refuses a model trained on other data or another split, when both fingerprints are known."""
    trained_on = saved.data_fingerprint
    if fingerprint and trained_on and fingerprint != trained_on:
        raise DataError(
            f"the model was trained on other data or another split (fingerprint {trained_on}, "
            f"this data {fingerprint}): retrain it (pipelines.train --overwrite) or point --model_dir elsewhere",
            path=model_dir,
        )


def save_tables(out_dir: Path, tables: MovieTables, probability: np.ndarray, first_rated: np.ndarray) -> None:
    with atomic.staged_file(out_dir / TABLES) as tmp, tmp.open("wb") as f:
        arrays = {k: v for k, v in dataclasses.asdict(tables).items() if v is not None}
        np.savez(f, probability=probability, first_rated=first_rated, **arrays)


def load_tables(model_dir: Path) -> tuple[MovieTables, np.ndarray, np.ndarray | None]:
    """(tables, sampling probability, first_rated; None in folders from before the future-negative mask)."""
    with np.load(Path(model_dir) / TABLES) as z:
        tables = MovieTables(**{f.name: z[f.name] for f in dataclasses.fields(MovieTables) if f.name in z.files})
        first = z["first_rated"] if "first_rated" in z.files else None
        return tables, z["probability"], first


def save_linear(out_dir: Path, factors: LinearFactors) -> None:
    with atomic.staged_file(out_dir / LINEAR) as tmp, tmp.open("wb") as f:
        np.savez(f, **dataclasses.asdict(factors))


def load_linear(model_dir: Path) -> LinearFactors | None:
    """The folder's linear member, None where it has none."""
    path = Path(model_dir) / LINEAR
    if not path.exists():
        return None
    with np.load(path) as z:
        return LinearFactors(**{f.name: z[f.name] for f in dataclasses.fields(LinearFactors)})


def cold_negatives(tables: MovieTables, train: TrainConfig) -> CatalogNegatives:
    """The pool of --cold_negatives: the movies nobody rated before T_val (the out-of-vocabulary slot)."""
    check_negatives(train)
    cold = (np.flatnonzero(np.asarray(tables.slots)[1:] == 0) + 1).astype(np.int32)
    if not len(cold):
        raise ValueError("--cold_negatives: every movie of the catalog was rated before T_val, none to draw")
    return CatalogNegatives(cold, size=train.cold_negatives, holds_targets=False, name="catalog_negatives")


def build_towers(tables: MovieTables, towers: TowerConfig) -> tuple[keras.Model, keras.Model]:
    """The query and the candidate tower; with --members=K, K of each side by side (towers.members), the
    k-th query member reading the k-th candidate member's id embeddings when they are shared."""

    def pair(suffix: str) -> tuple[QueryTower, CandidateTower]:
        candidate = CandidateTower(tables, towers, name=f"candidate_tower{suffix}")
        shared = candidate.id_embedding if towers.share_id_embedding else None
        return QueryTower(tables, towers, id_embedding=shared, name=f"query_tower{suffix}"), candidate

    if towers.members == 1:
        return pair("")
    queries, candidates = zip(*(pair(f"_{k}") for k in range(towers.members)), strict=True)
    return Members(list(queries), name="query_tower"), Members(list(candidates), name="candidate_tower")


def build_model(
    tables: MovieTables,
    towers: TowerConfig,
    train: TrainConfig,
    probability: np.ndarray | None,
    first_rated: np.ndarray | None = None,
) -> TwoTowerModel:
    """The compiled two-tower model; probability and first_rated ([n + 1] per movie) feed the logQ
    correction and the future-negative mask when those are on."""
    query, candidate = build_towers(tables, towers)
    catalog = None
    if train.catalog_negatives != 0:
        warm = np.flatnonzero(np.asarray(tables.slots) > 0).astype(np.int32)  # movies rated before T_val
        catalog = CatalogNegatives(warm, size=max(train.catalog_negatives, 0), name="catalog_negatives")
    if train.cold_negatives > 0:
        catalog = cold_negatives(tables, train)
    model = TwoTowerModel(
        query,
        candidate,
        temperature=train.temperature,
        sampling_probability=probability if train.logq else None,
        remove_accidental_hits=train.remove_accidental_hits,
        first_rated=first_rated if train.mask_future_negatives else None,
        history_negatives=train.mask_history_negatives,
        catalog_negatives=catalog,
        members=towers.members,
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


def restore_model(model_dir: Path, saved: SavedConfig | None = None) -> TwoTowerModel:
    """Rebuilds the model of a model folder and loads its best weights."""
    model_dir = Path(model_dir)
    saved = saved or read_config(model_dir)
    tables, probability, first = load_tables(model_dir)
    model = build_model(tables, saved.run.towers, saved.run.train, probability, first)
    model.load_weights(str(model_dir / WEIGHTS / "model")).expect_partial()
    return model


def restore_towers(model_dir: Path, saved: SavedConfig | None = None) -> tuple[keras.Model, keras.Model]:
    """(query tower, candidate tower) of a folder as it serves them: the trained towers, followed by the
    linear member's columns where the folder has one."""
    model = restore_model(model_dir, saved)
    factors = load_linear(model_dir)
    if factors is None:
        return model.query_tower, model.candidate_tower
    return factors.towers(model.query_tower, model.candidate_tower)


def check_resumable(model_dir: Path, out_dir: Path, run: RunConfig) -> None:
    """An interrupted run (model_dir/backup) resumes only with the tower and genome settings it started
    with: its checkpoint holds weights of those shapes. Settings its config.json lacks are not compared."""
    previous = out_dir / CONFIG
    if not (model_dir / BACKUP).exists() or not previous.exists():
        return
    started = json.loads(previous.read_text())
    resolved = run.to_json()
    changed = [
        f"--{key} {started[group][key]!r} -> {value!r}"
        for group in ("towers", "genome")
        for key, value in resolved[group].items()
        if key in started.get(group, {}) and started[group][key] != value
    ]
    if changed:
        raise ValueError(
            f"{model_dir} holds an interrupted run started with other settings ({', '.join(changed)}): "
            "pass the same flags to resume it, or use a new --model_dir"
        )


# Settings that do not change what a finished model is: re-running with another value reuses it.
_NOT_THE_MODEL = {("train", "export"), ("train", "overwrite"), ("prepare", "cache_dir"),
                  ("train", "steps_per_execution")}  # fmt: skip


def finished_run(model_dir: Path, run: RunConfig) -> dict | None:
    """The metrics of a finished model in `model_dir` trained with `run`'s settings, or None when the folder
    holds no finished model (none yet, or an interrupted run, which resumes).

    Raises:
      ValueError: the finished model was trained with other settings (say which); --overwrite retrains.
    """
    metrics, config = Path(model_dir) / METRICS, Path(model_dir) / CONFIG
    if not metrics.exists() or not config.exists() or (Path(model_dir) / BACKUP).exists():
        return None
    saved = RunConfig.from_json(json.loads(config.read_text())).to_json()
    wanted = run.to_json()
    changed = [
        f"--{key} {saved[group][key]!r} -> {value!r}"
        for group, values in wanted.items()
        for key, value in values.items()
        if (group, key) not in _NOT_THE_MODEL and saved[group].get(key) != value
    ]
    if changed:
        raise ValueError(
            f"{model_dir} holds a finished model trained with other settings ({', '.join(changed)}): pass "
            "--overwrite to retrain it with these, or choose another --model_dir"
        )
    return json.loads(metrics.read_text())
