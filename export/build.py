"""Exports a trained model:  python -m export.build --model_dir=DIR [--export_dir=DIR] [--k=100] [--scann_*]

Writes, into a temporary folder renamed into place when complete (default MODEL_DIR/export):

    saved_model/scann/        SavedModel with the ScaNN index (load: `import scann`, then tf.saved_model.load)
    saved_model/brute_force/  the same signatures with exact search and stock TensorFlow ops only
    movies.csv  genome_top_tags.json  vocabularies/*.txt  embeddings/*.npy
    projector/                TensorBoard projector (tensorboard --logdir EXPORT_DIR)
    manifest.json             versions, configuration, data fingerprint, metrics, index parameters

`export_model` is what pipelines.train calls at its end, with the prepared data it already has.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import app

from export import artifacts
from export.config import INDEXES, ExportConfig
from export.manifest import manifest
from export.module import RetrievalModule
from pipelines import cli
from pipelines.data import atomic
from pipelines.data.dataset import Prepared
from pipelines.data.errors import DataError
from pipelines.data.prepared import prepare
from pipelines.training import model_dir as model_dir_format
from pipelines.training.config import RunConfig
from pipelines.training.recommender import candidate_embeddings

SAVED_MODEL_DIR = "saved_model"


def saved_model_path(export_dir: str | Path, index: str = "scann") -> Path:
    """Where the SavedModel with `index` ("scann" or "brute_force") lives inside an export."""
    if index not in INDEXES:
        raise ValueError(f"index must be one of {INDEXES}, got {index!r}")
    return Path(export_dir) / SAVED_MODEL_DIR / index


def load_prepared(run: RunConfig) -> Prepared:
    """The prepared data a model was trained on, from the data configuration of its run."""
    return prepare(run.prepare, progress=False)


def export_model(
    model_dir: str | Path,
    export_dir: str | Path | None = None,
    config: ExportConfig | None = None,
    prepared: Prepared | None = None,
) -> Path:
    """Exports the trained model in `model_dir`; returns the export folder.

    Args:
      model_dir: a folder written by pipelines.train (pipelines.training.model_dir).
      export_dir: the export folder (replaced atomically); default `model_dir/export`.
      config: k and the ScaNN parameters (default ExportConfig()).
      prepared: the model's prepared data (catalog, split); None prepares it again from config.json.

    Raises:
      DataError: model_dir is not a trained model, or `prepared` is not the data it was trained on.
      ValueError: bad parameters (k or ScaNN).
    """
    start = time.perf_counter()
    config = config or ExportConfig()
    model_dir = Path(model_dir)
    saved = model_dir_format.read_config(model_dir)
    export_dir = Path(export_dir) if export_dir else model_dir / "export"
    num_movies = saved.num_movies
    if not 1 <= config.k < num_movies:
        raise ValueError(f"--k must be in 1..{num_movies - 1} (the catalog has {num_movies} movies), got {config.k}")
    config.validate(config.k)
    prepared = prepared if prepared is not None else load_prepared(saved.run)
    catalog = prepared.catalog
    if catalog.num_movies != num_movies:
        raise DataError(f"the prepared data has {catalog.num_movies} movies, the model {num_movies}", path=model_dir)
    model_dir_format.check_fingerprint(model_dir, saved, prepared.figures.get("fingerprint"))

    query_tower, candidate_tower = model_dir_format.restore_towers(model_dir, saved)
    slots = model_dir_format.load_tables(model_dir)[0].slots
    embeddings = candidate_embeddings(candidate_tower, num_movies)
    embeddings[0] = 0.0  # padding: never a result, and the embedding of an unknown id
    scann = config.for_catalog(num_movies)
    history_length = saved.run.input.history_length
    movie_dim = saved.run.towers.embedding_dim  # the (first) unit movie vector; then age codes, members, linear

    with atomic.staged_dir(export_dir) as tmp:
        for index in INDEXES:
            module = RetrievalModule(
                query_tower,
                np.asarray(catalog.movie_ids),
                embeddings,
                k=config.k,
                history_length=history_length,
                index=index,
                scann=scann,
                movie_dim=movie_dim,
            )
            options = tf.saved_model.SaveOptions(namespace_whitelist=["Scann"] if index == "scann" else None)
            tf.saved_model.save(
                module, str(saved_model_path(tmp, index)), signatures=module.signatures(), options=options
            )
        artifacts.write_metadata(tmp, catalog, slots)
        artifacts.write_embeddings(tmp, catalog, embeddings)
        artifacts.write_projector(tmp, catalog, embeddings[:, :movie_dim])
        info = manifest(model_dir, saved, config, scann, prepared, embeddings.shape[1])
        info["export_seconds"] = round(time.perf_counter() - start, 1)
        (tmp / "manifest.json").write_text(json.dumps(info, indent=2, default=str))
    return export_dir


@cli.exits_2_on_bad_input
def main(argv: list[str]) -> None:
    if not cli.FLAGS.model_dir:
        raise DataError("--model_dir is required")
    config = cli.config_from_flags(ExportConfig)
    start = time.perf_counter()
    out = export_model(cli.FLAGS.model_dir, cli.FLAGS.export_dir, config)
    info = json.loads((out / "manifest.json").read_text())
    print(
        json.dumps(
            {
                "export_dir": str(out),
                "movies": info["num_movies"],
                "k": info["k"],
                "scann": info["scann"],
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
    )


if __name__ == "__main__":
    cli.define_all_flags(ExportConfig, "model_dir")
    app.run(main, flags_parser=cli.parse_flags)
