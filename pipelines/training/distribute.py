"""tf.distribute: the strategy of a run, the chief's role, and one input pipeline per worker."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from pipelines.data.split import Interactions
from pipelines.training.config import STRATEGIES, InputConfig, TrainConfig
from pipelines.training.input import training_dataset


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
