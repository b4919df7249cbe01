"""The flags of every `python -m` entry point, defined in one place so that one flagfile serves them all.

Only entry points call these functions (STYLE.md: flags live in entry points): each defines the groups,
turns FLAGS into its frozen config dataclasses once with `config_from_flags`, and passes configs down.
Defining every group in every entry point is what lets `configs/demo.flags` drive prepare, train,
evaluate and export alike.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from absl import flags

from pipelines import releases
from pipelines.errors import DataError
from pipelines.synthetic_world import PRESETS

FLAGS = flags.FLAGS
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "movielens_two_tower"
Config = TypeVar("Config")


def define_data_flags() -> None:
    flags.DEFINE_string("data_dir", None, "Extracted MovieLens folder or release zip; unset: download --release.")
    flags.DEFINE_enum("release", releases.DEFAULT_RELEASE, list(releases.RELEASES), "Release to download.")
    flags.DEFINE_string("cache_dir", str(DEFAULT_CACHE_DIR), "Downloads and prepared data sets.")
    flags.DEFINE_float("val_frac", None, "Validation window share of ratings (default 0.05, 0.1 under 1M).")
    flags.DEFINE_float("test_frac", None, "Test window share of ratings (default 0.05, 0.1 under 1M).")
    flags.DEFINE_bool("drop_orphans", False, "Drop and count rows that reference unknown movies or tags.")
    flags.DEFINE_string("base_url", None, "Download mirror instead of files.grouplens.org.")
    flags.DEFINE_enum("synthetic", None, list(PRESETS), "Use a synthetic release of this size (offline).")
    flags.DEFINE_integer("synthetic_seed", 0, "Seed of the synthetic release.")


def define_eval_flags() -> None:
    """Flags of pipelines.evaluate: EvaluateConfig and BaselineConfig (--model_dir is a train flag, shared)."""
    flags.DEFINE_string("baselines", "all", "Baselines to score: all, none, or a comma list of "
                        "popularity, recent_popularity, item_knn, ease, ials.")  # fmt: skip
    flags.DEFINE_bool("planted_oracle", True, "Also score the planted oracle when the release is synthetic.")
    flags.DEFINE_string("out_dir", None, "Where metrics.json, report.md, plots and TensorBoard logs go "
                        "(default: <model_dir>/evaluation, or runs/evaluation without a model).")  # fmt: skip
    flags.DEFINE_integer("eval_batch_size", 1024, "Cases per scoring call (memory: batch x catalog float32).")
    flags.DEFINE_integer("eval_resamples", 1000, "Bootstrap resamples for the 95% intervals (0: none).")
    flags.DEFINE_integer("eval_seed", 0, "Seed of the bootstrap resamples and of the iALS initialisation.")
    flags.DEFINE_integer("recent_days", 90, "Recent popularity counts the training ratings of these last days.")
    flags.DEFINE_integer("knn_neighbors", 500, "Item-kNN keeps this many most similar items per item.")
    flags.DEFINE_float("ease_lambda", 2000.0, "EASE L2 regularisation.")
    flags.DEFINE_integer("ease_max_items", 10_000, "EASE models at most this many most-rated movies.")
    flags.DEFINE_float("ease_memory_gb", 4.0, "Refuse EASE when its item-item matrices would need more.")
    flags.DEFINE_integer("ials_factors", 64, "iALS latent factors.")
    flags.DEFINE_integer("ials_iterations", 15, "iALS alternating least-squares sweeps.")
    flags.DEFINE_float("ials_regularization", 50.0, "iALS L2 regularisation.")
    flags.DEFINE_float("ials_alpha", 5.0, "iALS confidence of a rated movie.")


def define_train_flags() -> None:
    """Flags of pipelines.train: input (InputConfig), towers (TowerConfig), genome (GenomeConfig), fit."""
    flags.DEFINE_string("model_dir", "runs/model", "Where the model, checkpoints, TensorBoard logs and metrics go.")
    flags.DEFINE_integer("history_length", 50, "Ratings of history the query tower sees (most recent first).")
    flags.DEFINE_integer("batch_size", 1024, "Training examples per step (also the in-batch negatives).")
    flags.DEFINE_enum("positives", "weighted", ["all", "liked", "weighted"], "Which training ratings are targets.")
    flags.DEFINE_integer(
        "chunk_length",
        8,
        "Train on runs of this many consecutive ratings (their histories "
        "overlap and are read once); 0 = independent examples (needed by attention pooling).",
    )
    flags.DEFINE_integer("seed", 0, "Seed of initialisation and shuffling.")
    flags.DEFINE_integer("embedding_dim", 64, "Size of user and movie embeddings.")
    flags.DEFINE_integer("id_dim", 64, "Size of movie-id embeddings inside the towers.")
    flags.DEFINE_integer("hidden", 128, "Hidden width of each tower's MLP.")
    flags.DEFINE_enum("pooling", "weighted", ["weighted", "attention"], "History encoder of the query tower.")
    flags.DEFINE_float("id_dropout", 0.1, "Training probability of hiding a candidate's id (cold-movie path).")
    flags.DEFINE_bool("use_content_in_history", True, "Add content projections to history item embeddings.")
    flags.DEFINE_bool("share_id_embedding", True, "Query tower reads history ids from the candidate embeddings.")
    flags.DEFINE_enum("genome_encoder", "autoencoder", ["autoencoder", "pca", "none"], "Genome code source.")
    flags.DEFINE_integer("bottleneck", 64, "Genome code size (autoencoder bottleneck or PCA components).")
    flags.DEFINE_integer("ae_hidden", 512, "Genome autoencoder hidden width.")
    flags.DEFINE_integer("ae_epochs", 60, "Genome autoencoder maximum epochs (early stopping on held-out movies).")
    flags.DEFINE_integer("ae_batch_size", 128, "Genome autoencoder batch size.")
    flags.DEFINE_float("ae_learning_rate", 1e-3, "Genome autoencoder learning rate.")
    flags.DEFINE_integer("ae_patience", 5, "Genome autoencoder early-stopping patience.")
    flags.DEFINE_float("ae_heldout_frac", 0.1, "Share of genome movies held out to validate the encoder.")
    flags.DEFINE_integer("epochs", 10, "Maximum training epochs.")
    flags.DEFINE_integer("steps_per_epoch", 0, "Cap on steps per epoch; 0 = a full pass over the targets.")
    flags.DEFINE_float("learning_rate", 3e-3, "Adam learning rate.")
    flags.DEFINE_float("temperature", 0.1, "Softmax temperature over cosine scores.")
    flags.DEFINE_bool("logq", True, "Correct in-batch negatives by their sampling probability (logQ).")
    flags.DEFINE_bool("remove_accidental_hits", True, "Ignore in-batch negatives equal to the positive.")
    flags.DEFINE_bool("mask_future_negatives", True, "Ignore in-batch negatives first rated after the query time.")
    flags.DEFINE_integer("patience", 3, "Epochs without a better validation metric before stopping.")
    flags.DEFINE_string("monitor", "recall@20", "Validation metric for early stopping and the best weights.")
    flags.DEFINE_integer("steps_per_execution", 16, "Training steps per compiled call.")
    flags.DEFINE_bool("jit_compile", True, "Compile the training step with XLA (one replica only).")
    flags.DEFINE_bool("export", True, "Write the SavedModel + ScaNN export into <model_dir>/export at the end.")
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"], "tf.distribute strategy.")
    flags.DEFINE_integer("cpu_replicas", 0, "Split the CPU into this many logical devices (mirrored on CPU).")


def define_export_flags() -> None:
    """Flags of export.build (ExportConfig), export.query (QueryConfig) and export.serve (ServeConfig)."""
    flags.DEFINE_string("export_dir", None, "Export folder (default: <model_dir>/export).")
    flags.DEFINE_integer("k", 100, "Recommendations per query, fixed in the exported signatures.")
    flags.DEFINE_integer("scann_num_leaves", 300, "ScaNN tree leaves (about sqrt(movies); fewer on small catalogs).")
    flags.DEFINE_integer("scann_leaves_to_search", 80, "ScaNN leaves searched per query.")
    flags.DEFINE_integer("scann_dimensions_per_block", 2, "ScaNN asymmetric-hashing dimensions per block.")
    flags.DEFINE_integer("scann_reorder", 500, "ScaNN candidates rescored exactly (>= k + 1).")
    flags.DEFINE_integer("scann_training_iterations", 12, "ScaNN tree k-means iterations.")
    flags.DEFINE_enum("index", "scann", ["scann", "brute_force"], "Which exported SavedModel answers queries.")
    flags.DEFINE_string("history", None, "movieId:rating,... oldest first (export.query).")
    flags.DEFINE_integer("user_id", None, "Recommend for this user's ratings in --data_dir (export.query).")
    flags.DEFINE_integer("similar_to", None, "Movies similar to this movieId (export.query).")
    flags.DEFINE_integer("num_results", 10, "Results to print (export.query).")
    flags.DEFINE_integer("query_time", None, "Query timestamp (default: the export's T_test).")
    flags.DEFINE_string("host", "127.0.0.1", "Address export.serve listens on.")
    flags.DEFINE_integer("port", 8500, "Port export.serve listens on (0: any free port).")
    flags.DEFINE_string("model_name", "movielens", "Model name of the TF Serving REST API paths.")
    flags.DEFINE_integer("max_history", 1000, "Longest history export.serve accepts.")
    flags.DEFINE_integer("max_batch", 256, "Most instances per predict request export.serve accepts.")


def define_all_flags() -> None:
    define_data_flags()
    define_eval_flags()
    define_train_flags()
    define_export_flags()


def config_from_flags(cls: type[Config]) -> Config:
    """The frozen config dataclass `cls`, its fields read from the flags of the same names."""
    return cls(**{name: FLAGS[name].value for name in cls.__dataclass_fields__})  # type: ignore[attr-defined]


def exits_2_on_bad_input(main: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
    """Wraps an absl `main`: bad input ends with a one-line `error: ...` on stderr and exit code 2."""

    @functools.wraps(main)
    def wrapped(argv: list[str]) -> None:
        if len(argv) > 1:
            print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
            sys.exit(2)
        try:
            main(argv)
        except (DataError, ValueError, OSError, ImportError) as error:  # ImportError: e.g. scann missing
            if os.environ.get("TWO_TOWER_TRACEBACK"):
                raise
            print(f"error: {error}".replace("\n", " "), file=sys.stderr)
            sys.exit(2)

    return wrapped
