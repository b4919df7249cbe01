"""The export's, the query CLI's and the server's settings (TensorFlow-free: pipelines/cli.py derives the
flags from these fields, and pipelines.train reads ExportConfig without loading ScaNN)."""

from __future__ import annotations

import dataclasses
import math

from pipelines.data.prepared import DEFAULT_CACHE_DIR

INDEXES = ("scann", "brute_force")
MIN_MOVIES_PER_LEAF = 100
# Below this many movies a query scans them all: cheap, and it keeps a small catalog's few leaves from
# being searched by a share tuned for 86.5k movies (user embeddings lie outside the movies' k-means cells).
MIN_SCANNED_MOVIES = 8_000


@dataclasses.dataclass(frozen=True)
class ScannParams:
    """ScaNN index parameters (tree partitioning + asymmetric hashing + exact reordering).

    Attributes:
      scann_num_leaves: ScaNN tree leaves (partitions); about sqrt(movies) suits 86.5k movies, fewer on
        small catalogs.
      scann_leaves_to_search: ScaNN leaves searched per query (recall vs speed; 80 of 300: BUILD_NOTES, "Export").
      scann_dimensions_per_block: ScaNN asymmetric-hashing dimensions per block (2 = most accurate).
      scann_reorder: ScaNN candidates rescored exactly (>= k + 1); also the most neighbours one search returns.
      scann_training_iterations: ScaNN tree k-means iterations.
    """

    scann_num_leaves: int = 300
    scann_leaves_to_search: int = 80
    scann_dimensions_per_block: int = 2
    scann_reorder: int = 500
    scann_training_iterations: int = 12

    def validate(self, k: int) -> None:
        if min(self.scann_num_leaves, self.scann_leaves_to_search, self.scann_dimensions_per_block) < 1:
            raise ValueError("ScaNN leaves, leaves to search and dimensions per block must be positive")
        if self.scann_leaves_to_search > self.scann_num_leaves:
            raise ValueError("--scann_leaves_to_search must not exceed --scann_num_leaves")
        if self.scann_reorder < k + 1:
            raise ValueError(f"--scann_reorder ({self.scann_reorder}) must be at least k + 1 ({k + 1})")

    def for_catalog(self, num_movies: int) -> ScannParams:
        """The parameters adapted to a catalog of `num_movies`: at least MIN_MOVIES_PER_LEAF movies a leaf, the
        same share of leaves searched, and at least MIN_SCANNED_MOVIES movies scanned per query (so a small
        catalog is searched more thoroughly, all of it below 8,000 movies; 86.5k movies use the flags)."""
        leaves = max(1, min(self.scann_num_leaves, num_movies // MIN_MOVIES_PER_LEAF))
        share = math.ceil(leaves * self.scann_leaves_to_search / self.scann_num_leaves)
        floor = math.ceil(leaves * min(1.0, MIN_SCANNED_MOVIES / max(num_movies, 1)))
        return dataclasses.replace(
            self, scann_num_leaves=leaves, scann_leaves_to_search=min(leaves, max(share, floor, 1))
        )


@dataclasses.dataclass(frozen=True)
class ExportConfig(ScannParams):
    """What to export (the ScaNN fields come from ScannParams).

    Attributes:
      k: Recommendations per query, fixed in the exported `recommend` and `similar_movies` signatures.
    """

    k: int = 100


@dataclasses.dataclass(frozen=True)
class QueryConfig:
    """export.query: one recommendation or similar-movies query from the command line.

    Attributes:
      export_dir: Export folder (default: <model_dir>/export).
      index: Which exported SavedModel answers queries: scann or brute_force.
      history: movieId:rating,... oldest first (export.query).
      user_id: Recommend for this user's ratings in --data_dir (export.query).
      similar_to: Movies similar to this movieId (export.query).
      num_results: Results to print (export.query; at most the exported k).
      query_time: Query timestamp (default: the user's last rating + 1, or the export's T_test).
      data_dir: Extracted MovieLens folder or release zip; unset: download --release (export.query: the
        release holding --user_id's ratings, default the data the model was trained on).
      cache_dir: Downloads and prepared data sets (and where a zipped data_dir is unpacked).
    """

    export_dir: str | None = None
    index: str = dataclasses.field(default="scann", metadata={"choices": INDEXES})
    history: str | None = None
    user_id: int | None = None
    similar_to: int | None = None
    num_results: int = 10
    query_time: int | None = None
    data_dir: str | None = None
    cache_dir: str = str(DEFAULT_CACHE_DIR)


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """export.serve: the HTTP server.

    Attributes:
      export_dir: Export folder (default: <model_dir>/export).
      index: Which exported SavedModel answers queries: scann or brute_force.
      host: Address export.serve listens on.
      port: Port export.serve listens on (0: any free port).
      model_name: Model name of the TF Serving REST API paths (/v1/models/<name>).
      max_history: Longest history export.serve accepts.
      max_batch: Most instances per predict request export.serve accepts.
    """

    export_dir: str | None = None
    index: str = dataclasses.field(default="scann", metadata={"choices": INDEXES})
    host: str = "127.0.0.1"
    port: int = 8500
    model_name: str = "movielens"
    max_history: int = 1000
    max_batch: int = 256
