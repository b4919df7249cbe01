"""benchmarks.retrieval on the tiny export: the measurement functions run and agree with their definitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.retrieval import Timing, compare_indexes, embed_queries, raw_queries, signature_latency
from export.index import ScannParams
from tests.conftest import HISTORY_LENGTH


def test_compare_indexes_on_the_tiny_export(export_dir: Path, export_prepared) -> None:
    inputs = raw_queries(export_prepared.split.val, export_prepared.catalog.movie_ids, HISTORY_LENGTH)
    assert inputs["history_movie_ids"].shape == (len(export_prepared.split.val), HISTORY_LENGTH)
    assert set(np.unique(inputs["history_movie_ids"])) <= set(export_prepared.catalog.movie_ids.tolist())
    queries = embed_queries(export_dir, inputs, batch=16)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-4)
    embeddings = np.load(export_dir / "embeddings/movie_embeddings.npy")[1:]
    timing = Timing(search_batch=16, repeats=1, latency_queries=5)
    report = compare_indexes(embeddings, {"user_queries": queries}, ScannParams(), timing)
    user = report["user_queries"]
    assert report["movies"] == 600 and report["scann"]["scann_num_leaves"] == 6
    assert user["recall@10"] >= 0.95 and user["recall@10_within_1e-3"] >= user["recall@10"]
    assert user["batched"]["speedup"] > 0 and user["single_query_scann"]["p99_ms"] > 0
    latency = signature_latency(export_dir, inputs, 3)
    assert set(latency) == {"recommend_signature_scann", "recommend_signature_brute_force"}
