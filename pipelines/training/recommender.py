"""A trained two-tower model as an evaluation Recommender, and rebuilding one from its model directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from pipelines.evaluation.evaluator import Queries
from pipelines.training import model_dir as model_dir_format
from pipelines.training.input import query_features
from towers.towers import CandidateTower, QueryTower

CANDIDATE_BATCH = 8192


def candidate_embeddings(tower: CandidateTower, num_movies: int) -> np.ndarray:
    """[n + 1, d] embeddings of every movie index (row 0, padding, included and never recommended)."""
    index = np.arange(num_movies + 1, dtype=np.int32)
    parts = [tower(tf.constant(index[s : s + CANDIDATE_BATCH])).numpy() for s in range(0, len(index), CANDIDATE_BATCH)]
    return np.concatenate(parts)


def query_embeddings(tower: QueryTower, features: dict[str, np.ndarray], batch: int = 4096) -> np.ndarray:
    """[B, d] query embeddings of numpy query features (see pipelines.training.input.query_features)."""
    rows = len(features["query_timestamp"])
    parts = [
        tower({k: tf.constant(v[s : s + batch]) for k, v in features.items()}).numpy() for s in range(0, rows, batch)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


class TowerRecommender:
    """Scores = query embedding . candidate embedding, candidates embedded once at construction."""

    def __init__(
        self,
        query_tower: QueryTower,
        candidate_tower: CandidateTower,
        num_movies: int,
        history_length: int,
        name: str = "two-tower",
    ) -> None:
        self.name = name
        self.query_tower = query_tower
        self.history_length = history_length
        self.candidates = candidate_embeddings(candidate_tower, num_movies)

    def embed(self, queries: Queries) -> np.ndarray:
        """[B, d] query embeddings of evaluation queries."""
        return self.embed_features(query_features(queries.history, queries.query_times, self.history_length))

    def embed_features(self, features: dict[str, np.ndarray]) -> np.ndarray:
        return query_embeddings(self.query_tower, features)

    def scores(self, queries: Queries) -> np.ndarray:
        return self.embed(queries) @ self.candidates.T


def load(model_dir: str | Path, fingerprint: str | None = None) -> TowerRecommender:
    """The trained model in `model_dir` (written by pipelines.train) as a Recommender.

    Args:
      model_dir: the training run's directory.
      fingerprint: the prepared data's fingerprint; when both it and the model's are known and differ,
        the model was trained on other data (or another split) and is refused.
    """
    model_dir = Path(model_dir)
    saved = model_dir_format.read_config(model_dir)
    model_dir_format.check_fingerprint(model_dir, saved, fingerprint)
    query, candidate = model_dir_format.restore_towers(model_dir, saved)
    return TowerRecommender(query, candidate, saved.num_movies, saved.run.input.history_length)
