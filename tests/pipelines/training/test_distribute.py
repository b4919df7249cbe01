"""tf.distribute on the CPU: mirrored over two logical devices, and two workers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import start_module

ROOT = Path(__file__).resolve().parents[3]
MIRRORED_TOLERANCE = 0.1  # absolute validation recall@20 on the tiny release (44 cases): a few cases' worth


def flagfile(tmp_path: Path, release: Path, model_dir: Path, *extra: str) -> Path:
    path = tmp_path / f"{model_dir.name}.flags"
    lines = [
        f"--data_dir={release}", f"--cache_dir={tmp_path / 'cache'}", f"--model_dir={model_dir}", "--epochs=2",
        "--batch_size=128", "--history_length=8", "--embedding_dim=16", "--id_dim=16", "--hidden=32",
        "--genome_encoder=pca", "--bottleneck=4", "--steps_per_execution=4", "--patience=5", "--export=false", *extra,
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def train_process(flags: Path, env: dict | None = None) -> subprocess.Popen:
    return start_module("pipelines.train", f"--flagfile={flags}", env=env)


def finish(process: subprocess.Popen, timeout: int = 600) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return out


def recall(model_dir: Path) -> float:
    return json.loads((model_dir / "metrics.json").read_text())["validation"]["overall"]["recall@20"]["mean"]


def test_mirrored_on_two_logical_cpus_matches_default(tiny_release: Path, tmp_path: Path) -> None:
    finish(train_process(flagfile(tmp_path, tiny_release, tmp_path / "default")))
    mirrored_dir = tmp_path / "mirrored"
    finish(train_process(flagfile(tmp_path, tiny_release, mirrored_dir, "--strategy=mirrored", "--cpu_replicas=2")))
    metrics = json.loads((mirrored_dir / "metrics.json").read_text())
    assert metrics["replicas"] == 2
    assert abs(recall(mirrored_dir) - recall(tmp_path / "default")) <= MIRRORED_TOLERANCE


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_to_the_end_and_agree_on_the_weights(tiny_release: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "multi"
    flags = flagfile(tmp_path, tiny_release, model_dir, "--strategy=multi_worker")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    processes = [
        train_process(flags, {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
        for i in range(2)
    ]
    for process in processes:
        finish(process)
    chief = json.loads((model_dir / "metrics.json").read_text())
    worker = json.loads((model_dir / "workers" / "worker-1" / "metrics.json").read_text())
    assert chief["replicas"] == 2 and chief["epochs_run"] == worker["epochs_run"] == 2
    assert chief["weights_checksum"] == pytest.approx(worker["weights_checksum"], rel=1e-6)
