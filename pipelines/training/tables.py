"""The towers' fixed per-movie input tables, from training ratings (before T_val) and content only:
id slots, dense content (genome code, genres, popularity), year buckets, title tokens; and the in-batch
sampling probability of each movie (the logQ correction)."""

from __future__ import annotations

import numpy as np

from pipelines.data.content import build_content
from pipelines.data.dataset import Prepared
from pipelines.training.input import InputConfig, target_positions
from pipelines.training.popularity import popularity_columns
from towers.config import GenomeConfig
from towers.genome_encoder import genome_codes
from towers.towers import POPULARITY_FEATURES, MovieTables


def movie_tables(prepared: Prepared, genome: GenomeConfig, seed: int) -> tuple[MovieTables, dict]:
    """Fixed lookup tables from training data and content only (slots from ratings before T_val)."""
    content = build_content(prepared.catalog)
    codes = genome_codes(content.genome, content.has_genome, genome, seed)
    seen = prepared.train_counts > 0
    seen[0] = False
    slots = np.zeros(len(seen), np.int32)
    slots[seen] = np.arange(1, seen.sum() + 1)
    dense = np.concatenate(
        [codes.codes, content.has_genome[:, None], content.genres, popularity_features(prepared)], axis=1
    ).astype(np.float32)
    tables = MovieTables(
        slots=slots,
        content=dense,
        year_buckets=content.year_buckets,
        title_tokens=content.title_tokens,
        years=np.asarray(prepared.catalog.years, np.int32),
    )
    return tables, codes.report


def popularity_features(prepared: Prepared) -> np.ndarray:
    """[n + 1, 3] per movie from training ratings only: log count, years on the catalog before T_val
    (first training rating to T_val; 0 for unseen movies) and log ratings per year."""
    features = popularity_columns(prepared.train_counts, prepared.split.t_val - prepared.first_rated).numpy()
    assert features.shape[1] == POPULARITY_FEATURES
    return features


def sampling_probability(prepared: Prepared, config: InputConfig) -> np.ndarray:
    """[n + 1] share of training targets per movie: the in-batch candidate sampling probability."""
    targets = prepared.split.train.movies[target_positions(prepared.split.train, config.positives)]
    counts = np.bincount(targets, minlength=prepared.catalog.num_movies + 1).astype(np.float64)
    return np.maximum(counts / max(counts.sum(), 1.0), 1e-9).astype(np.float32)
