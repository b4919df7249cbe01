"""ml-10m, ml-1m and ml-100k layouts through the normal commands: generate, prepare, train, evaluate, query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_module

TINY_MODEL = ["--epochs=1", "--batch_size=128", "--history_length=8", "--embedding_dim=8", "--id_dim=8",
              "--hidden=16", "--genome_encoder=pca", "--bottleneck=4", "--steps_per_execution=4"]  # fmt: skip


@pytest.mark.parametrize("layout", ["10m", "1m", "100k"])
def test_a_generated_release_trains_and_evaluates(layout: str, tmp_path: Path) -> None:
    release = tmp_path / f"ml-{layout}"
    written = run_module("pipelines.synthetic", f"--out={release}", "--preset=tiny", "--seed=1", f"--layout={layout}")
    assert written.returncode == 0, written.stderr[-2000:]
    common = [f"--data_dir={release}", f"--cache_dir={tmp_path / 'cache'}"]
    prepared = run_module("pipelines.prepare", *common)
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    figures = json.loads(prepared.stdout)
    assert figures["ratings"] == 15_000 and figures["movies"] == 600 and figures["genome_movies"] == 0

    model = tmp_path / "model"
    export = [] if layout == "100k" else ["--noexport"]  # one layout goes on to the export and the query
    trained = run_module("pipelines.train", *common, f"--model_dir={model}", *TINY_MODEL, *export)
    assert trained.returncode == 0, trained.stderr[-3000:]
    recall = json.loads((model / "metrics.json").read_text())["validation"]["overall"]["recall@20"]["mean"]
    assert 0 < recall <= 1

    evaluated = run_module("pipelines.evaluate", *common, f"--model_dir={model}", "--notune_baselines")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    report = json.loads((model / "evaluation" / "metrics.json").read_text())
    assert report["methods"]["two-tower"]["validation"]["overall"]["recall@20"]["mean"] == pytest.approx(
        recall, abs=1e-6
    )

    if layout == "100k":  # the query reads the user's ratings from u.data, as training did
        queried = run_module("export.query", f"--export_dir={model / 'export'}", "--user_id=5", "--num_results=3")
        assert queried.returncode == 0, queried.stderr[-2000:]
        assert "Top 3 for user 5" in queried.stdout
