"""Shared fixtures: synthetic releases generated once per session, a writer for hand-made ones, a tiny trained
model and its export (made once per session, for the export tests and the recommender contract), and the
entry-point subprocess helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pipelines.data.prepared import PrepareConfig, build
from pipelines.data.synthetic.release import generate

SMALL_RELEASE = {
    "movies.csv": (
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '11,"American President, The (1995)",Comedy|Drama|Romance\n'
        "20,Babylon 5,Sci-Fi\n"
        "31,Dangerous Minds (1995),(no genres listed)\n"
    ),
    "ratings.csv": (
        "userId,movieId,rating,timestamp\n"
        "1,1,4.0,100\n1,11,3.5,200\n1,20,5.0,300\n"
        "2,1,2.0,150\n2,31,4.5,400\n"
        "3,11,4.0,500\n3,20,1.0,600\n3,31,4.0,700\n"
    ),
    "tags.csv": "userId,movieId,tag,timestamp\n1,1,Pixar,120\n2,1,pixar ,160\n3,31,late,800\n",
    "links.csv": "movieId,imdbId,tmdbId\n1,0114709,862\n11,0112346,9087\n20,0105946,\n31,0112792,9909\n",
    "genome-tags.csv": "tagId,tag\n1,007\n2,funny\n",
    "genome-scores.csv": "movieId,tagId,relevance\n1,1,0.025\n1,2,0.9\n11,1,0.1\n11,2,0.4\n",
}


def write_release(folder: Path, files: dict[str, str | bytes]) -> Path:
    """Writes `files` (name -> text or bytes) into `folder`; a None value leaves the file out."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if content is None:
            continue
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def hand_release(tmp_path: Path) -> Path:
    return write_release(tmp_path / "release", SMALL_RELEASE)


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("synthetic") / "tiny", "tiny", seed=1)


@pytest.fixture(scope="session")
def small_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("synthetic") / "small", "small", seed=0)


@pytest.fixture
def tiny_copy(tiny_release: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny release that a test may break."""
    return Path(shutil.copytree(tiny_release, tmp_path / "tiny"))


ROOT = Path(__file__).resolve().parents[1]


def _environment(env: dict | None) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}


def run_module(module: str, *args: str, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m module args...` from the repository root, as a user runs an entry point."""
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=_environment(env), cwd=ROOT, timeout=timeout)  # fmt: skip


def start_module(module: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    """`python -m module args...` started in the background (a server, one worker of several)."""
    return subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_environment(env), cwd=ROOT)  # fmt: skip


K = 20
HISTORY_LENGTH = 10


@pytest.fixture(scope="session")
def export_prepared(tiny_release: Path):
    return build(tiny_release, PrepareConfig())


@pytest.fixture(scope="session")
def trained_model(export_prepared, tiny_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained for one epoch on the tiny synthetic release (600 movies)."""
    from pipelines.training.config import InputConfig, RunConfig, TrainConfig
    from pipelines.training.loop import train
    from towers.config import GenomeConfig, TowerConfig

    model_dir = tmp_path_factory.mktemp("export") / "model"
    run = RunConfig(
        prepare=PrepareConfig(data_dir=str(tiny_release), cache_dir=str(model_dir.parent / "cache")),
        input=InputConfig(history_length=HISTORY_LENGTH, batch_size=128),
        towers=TowerConfig(embedding_dim=16, id_dim=16, hidden=32),
        genome=GenomeConfig(genome_encoder="pca", bottleneck=8),
        train=TrainConfig(model_dir=str(model_dir), epochs=1, steps_per_execution=4, export=False),  # exported below
    )
    train(export_prepared, run)
    return model_dir


@pytest.fixture(scope="session")
def export_dir(trained_model: Path, export_prepared) -> Path:
    from export.build import ExportConfig, export_model

    return export_model(trained_model, None, ExportConfig(k=K), prepared=export_prepared)
