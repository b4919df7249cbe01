"""The configuration of a training run (TensorFlow-free: pipelines/cli.py derives the flags from these fields).

InputConfig (how examples are drawn), TrainConfig (the fit), and RunConfig: every group of one run, what
`pipelines.train` builds from its flags, what `config.json` in a model folder holds, and what is read back
from it (pipelines.training.model_dir).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pipelines.data.prepared import PrepareConfig
from towers.config import GenomeConfig, TowerConfig

POSITIVES = ("all", "liked", "weighted")
STRATEGIES = ("default", "mirrored", "multi_worker")


@dataclasses.dataclass(frozen=True)
class InputConfig:
    """How training examples are drawn.

    Attributes:
      history_length: Ratings of history the query tower sees (most recent first).
      batch_size: Training examples per step (also the in-batch negatives); a multiple of chunk_length
        times the replicas.
      positives: Which training ratings are targets: all, liked (rating >= 4) or weighted (all, with loss
        weight rating / 5).
      chunk_length: Train on runs of this many consecutive ratings (their histories overlap and are read
        once); 0 = independent examples (needed by attention pooling and positives=liked).
      seed: Seed of initialisation and shuffling; the same seed gives the same batches.
      popularity_as_of: Give each training target's movie its popularity features as of the target's
        time (ratings before it, time since its first rating) instead of as of T_val, as the index sees a
        movie at T_val: a movie nobody has rated yet then looks like what training saw at movies' first ratings.
      hide_new_ids: Show a target movie as a movie nobody rated before T_val looks (the out-of-vocabulary
        id, popularity features 0) while it has fewer than this many earlier training ratings (0: never), so
        the content path trains on movies as new as the never-rated ones are at T_val.
      hide_new_days: Also show a target movie as new while its first training rating is less than this many
        days before the target (0: never): an evaluation window's never-rated movies are the ones that
        arrived less than the window's length before each of their ratings.
    """

    history_length: int = 50
    batch_size: int = 1024
    positives: str = dataclasses.field(default="weighted", metadata={"choices": POSITIVES})
    chunk_length: int = 8
    seed: int = 0
    popularity_as_of: bool = False
    hide_new_ids: int = 0
    hide_new_days: float = 0.0


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The fit.

    Attributes:
      model_dir: Where the model, checkpoints, TensorBoard logs and metrics go (and resume from).
      epochs: Maximum training epochs.
      steps_per_epoch: Cap on steps per epoch; 0 = a full pass over the targets.
      learning_rate: Adam learning rate.
      temperature: Softmax temperature over cosine scores.
      logq: Correct in-batch negatives by their sampling probability (logQ).
      remove_accidental_hits: Ignore in-batch negatives equal to the positive.
      mask_future_negatives: Ignore in-batch negatives first rated after the query time (turn it off with
        the towers' release_age, which can express that a movie was not released yet).
      mask_history_negatives: Ignore negatives the query's user already rated (in its history): the
        evaluation never ranks them.
      catalog_negatives: Negatives from the movies rated before T_val besides the in-batch ones: 0 none; -1
        every such movie each step (a full softmax over them; in-batch negatives then left out); N > 0: N of
        them drawn uniformly each step (logQ corrected for the mix).
      cold_negatives: N > 0: N movies nobody rated before T_val drawn uniformly each step as negatives
        besides the in-batch ones (logQ corrected for the mix), so the cold path also sees the never-rated
        movies that stay unrated; needs --nomask_future_negatives, not with catalog_negatives.
      patience: Epochs without a better validation metric before stopping.
      monitor: Validation metric for early stopping and the best weights.
      steps_per_execution: Training steps per compiled call (amortises Python overhead).
      jit_compile: Compile the training step with XLA (fuses the many small ops of a step; one replica
        only: under several replicas the step runs uncompiled).
      export: Write the SavedModel + ScaNN export into <model_dir>/export at the end (pipelines.train).
      overwrite: Delete a finished model in model_dir and train afresh; without it a finished model is
        reused (nothing retrained). An interrupted run resumes either way.
      strategy: tf.distribute strategy: default (one device), mirrored (all GPUs of this machine, or the
        logical CPUs of cpu_replicas), multi_worker (the machines in TF_CONFIG).
      cpu_replicas: Split the CPU into this many logical devices (mirrored on CPU).
      members_apart: With --members=K above 1, train each member as a run of its own (seed seed x K + k, its
        own batch order and early stopping, in model_dir/members/k), then join them side by side; without
        it the members train together on the same batches and one validation figure stops them all.
    """

    model_dir: str = "runs/model"
    epochs: int = 10
    steps_per_epoch: int = 0
    learning_rate: float = 3e-3
    temperature: float = 0.1
    logq: bool = True
    remove_accidental_hits: bool = True
    mask_future_negatives: bool = True
    mask_history_negatives: bool = False
    catalog_negatives: int = 0
    cold_negatives: int = 0
    patience: int = 3
    monitor: str = "recall@20"
    steps_per_execution: int = 16
    jit_compile: bool = True
    export: bool = True
    overwrite: bool = False
    strategy: str = dataclasses.field(default="default", metadata={"choices": STRATEGIES})
    cpu_replicas: int = 0
    members_apart: bool = False


def check_negatives(train: TrainConfig) -> None:
    """Negative settings that cannot go together (ValueError)."""
    if train.cold_negatives > 0 and train.catalog_negatives != 0:
        raise ValueError("--cold_negatives needs no --catalog_negatives: two pools of negatives, choose one")
    if train.cold_negatives > 0 and train.mask_future_negatives:
        raise ValueError(
            "--cold_negatives needs --nomask_future_negatives: a movie nobody rated before T_val counts as first"
            " rated at T_val, so the future-negative mask would leave it out of every training query"
        )


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Every setting of one training run, one group per config class (the keys of config.json)."""

    prepare: PrepareConfig = dataclasses.field(default_factory=PrepareConfig)
    input: InputConfig = dataclasses.field(default_factory=InputConfig)
    towers: TowerConfig = dataclasses.field(default_factory=TowerConfig)
    genome: GenomeConfig = dataclasses.field(default_factory=GenomeConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {field.name: dataclasses.asdict(getattr(self, field.name)) for field in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, payload: dict) -> RunConfig:
        """The inverse of to_json, for model folders of any age: a group or setting the folder lacks takes
        today's default, and a setting that no longer exists is ignored."""
        groups = {}
        for field in dataclasses.fields(cls):
            group_cls = field.default_factory
            known = {f.name for f in dataclasses.fields(group_cls)}
            values = payload.get(field.name) or {}
            groups[field.name] = group_cls(**{k: v for k, v in values.items() if k in known})
        return cls(**groups)
