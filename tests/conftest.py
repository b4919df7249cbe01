"""Shared fixtures: synthetic releases generated once per session, and a writer for hand-made ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pipelines.synthetic import generate

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


def run_module(module: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m module args...` from the repository root, as a user runs an entry point."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=timeout)  # fmt: skip
