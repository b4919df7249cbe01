"""manifest.json of an export: what was exported, from what data, with which package versions."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import platform
from pathlib import Path

import numpy as np

from export import signatures
from export.config import ExportConfig, ScannParams
from pipelines.data.dataset import Prepared
from pipelines.training.model_dir import METRICS, SavedConfig

FORMAT_VERSION = 1
PACKAGES = ("tensorflow", "tf-keras", "tensorflow-recommenders", "scann", "numpy", "pandas", "tensorboard")
SUMMARY_METRICS = ("recall@10", "recall@20", "recall@100", "ndcg@10", "hit@10", "mrr@100")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def content_hash(prepared: Prepared) -> str:
    """Hash of what the model saw of the data: the movie ids, the split's cut times and training ratings
    (also for prepared data that does not come from the cache and so has no cache fingerprint)."""
    digest = hashlib.blake2b(digest_size=12)
    split = prepared.split
    digest.update(f"{split.t_val}:{split.t_test}".encode())
    for array in (prepared.catalog.movie_ids, split.train.offsets, split.train.movies, split.train.timestamps):
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def metrics_summary(model_dir: Path) -> dict | None:
    """Means of the main validation and test metrics of metrics.json, or None without one."""
    path = model_dir / METRICS
    if not path.exists():
        return None
    metrics = json.loads(path.read_text())
    out: dict = {key: metrics.get(key) for key in ("epochs_run", "best_epoch", "seconds")}
    for window in ("validation", "test"):
        overall = metrics.get(window, {}).get("overall", {})
        out[window] = {name: overall[name]["mean"] for name in SUMMARY_METRICS if name in overall}
    return out


def manifest(
    model_dir: Path, saved: SavedConfig, config: ExportConfig, scann: ScannParams, prepared: Prepared, dim: int
) -> dict:
    """The manifest's content.

    Args:
      model_dir: the trained model's folder.  saved: its config.json.
      config: the ExportConfig as given.  scann: the ScaNN parameters as used (adapted to the catalog).
      prepared: the model's data.  dim: embedding size (the towers' embedding_dim, plus the release-age
        code's slots with release_age).
    """
    split = prepared.split
    return {
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model_dir": str(model_dir.resolve()),
        "num_movies": prepared.catalog.num_movies,
        "embedding_dim": dim,
        "movie_vector_dim": saved.run.towers.embedding_dim,  # leading columns; the rest: age codes, members, linear
        "k": config.k,
        "history_length": saved.run.input.history_length,
        "saved_models": {"scann": "saved_model/scann", "brute_force": "saved_model/brute_force"},
        "signatures": signatures.describe(),
        "scann": {f.name: getattr(scann, f.name) for f in dataclasses.fields(ScannParams)},
        "export_config": dataclasses.asdict(config),
        "model_config": saved.to_json(),
        "data": {
            "fingerprint": prepared.figures.get("fingerprint") or saved.data_fingerprint,
            "content_hash": content_hash(prepared),
            "t_val": int(split.t_val),
            "t_test": int(split.t_test),
            "figures": prepared.figures,
        },
        "metrics": metrics_summary(model_dir),
        "versions": package_versions(),
    }
