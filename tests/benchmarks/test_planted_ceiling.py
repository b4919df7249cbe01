"""The ceiling study's variants: each scores the whole catalog, and forgetting the truth costs recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.planted_ceiling import variants
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.evaluation import planted
from pipelines.evaluation.evaluator import batches, evaluate


def test_variants_score_the_catalog_and_the_whole_truth_scores_best(small_release: Path, tmp_path: Path) -> None:
    prepared = prepare(PrepareConfig(data_dir=str(small_release), cache_dir=str(tmp_path)), progress=False)
    n, split = prepared.catalog.num_movies, prepared.split
    methods = variants(prepared, planted.load_oracle(prepared.figures["data_dir"], prepared.catalog))
    assert len(methods) == 7
    _, first = next(batches(split.val, 16))
    recall = {}
    for label, method in methods.items():
        scores = method.scores(first)
        assert scores.shape == (16, n + 1) and np.isfinite(scores[:, 1:]).all()
        recall[label] = evaluate(method, split.val, n, prepared.train_counts).means()["recall@20"]
    whole_truth = recall["planted oracle (the whole truth)"]
    assert all(whole_truth >= value for value in recall.values()), recall
    assert recall["planted factors alone (taste . factor)"] < whole_truth / 2, recall
