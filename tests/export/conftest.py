"""A tiny trained model and its export, made once per test session for all export tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from export.build import ExportConfig, export_model
from pipelines.input import InputConfig
from pipelines.prepare import PrepareConfig, build
from pipelines.training import TrainConfig, train
from towers.genome_encoder import GenomeConfig
from towers.towers import TowerConfig

K = 20
HISTORY_LENGTH = 10


@pytest.fixture(scope="session")
def export_prepared(tiny_release: Path):
    return build(tiny_release, PrepareConfig())


@pytest.fixture(scope="session")
def trained_model(export_prepared, tiny_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained for one epoch on the tiny synthetic release (600 movies)."""
    model_dir = tmp_path_factory.mktemp("export") / "model"
    inputs = InputConfig(history_length=HISTORY_LENGTH, batch_size=128)
    towers = TowerConfig(embedding_dim=16, id_dim=16, hidden=32)
    genome = GenomeConfig(genome_encoder="pca", bottleneck=8)
    config = TrainConfig(model_dir=str(model_dir), epochs=1, steps_per_execution=4, export=False)  # exported below
    prepare = PrepareConfig(data_dir=str(tiny_release), cache_dir=str(model_dir.parent / "cache"))
    resolved = {
        "prepare": vars(prepare),
        "input": vars(inputs),
        "towers": vars(towers),
        "genome": vars(genome),
        "train": vars(config),
    }
    train(export_prepared, inputs, towers, genome, config, json.loads(json.dumps(resolved)))
    return model_dir


@pytest.fixture(scope="session")
def export_dir(trained_model: Path, export_prepared) -> Path:
    return export_model(trained_model, None, ExportConfig(k=K), prepared=export_prepared)
