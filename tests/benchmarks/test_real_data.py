"""benchmarks.real_data end to end on the tiny synthetic release: trained seeds, tuned baselines, one table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_module


def test_real_data_benchmark_trains_seeds_and_compares_with_tuned_baselines(tiny_release: Path, tmp_path: Path) -> None:
    flags = tmp_path / "tiny.flags"
    flags.write_text(f"--cache_dir={tmp_path / 'cache'}\n--epochs=1\n--batch_size=128\n--history_length=8\n"
                     "--genome_encoder=pca\n--bottleneck=4\n--steps_per_execution=4\n--eval_resamples=20\n"
                     "--baselines=popularity,ease\n--noplanted_oracle\n")  # fmt: skip
    work = tmp_path / "work"
    result = run_module("benchmarks.real_data", f"--data_dir={tiny_release}", f"--runs_flagfile={flags}",
                        "--seeds=2", f"--work_dir={work}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model / best tuned baseline: recall@20" in result.stdout
    report = json.loads((work / "real_data.json").read_text())
    for window in ("validation", "test"):
        rows = report["windows"][window]
        assert [r["name"] for r in rows] == ["two-tower (2 seeds)", "popularity", "ease"]
        seeds = [json.loads((work / f"seed-{s}" / "metrics.json").read_text()) for s in (0, 1)]
        mean = sum(m[window]["overall"]["recall@20"]["mean"] for m in seeds) / 2
        assert rows[0]["values"]["recall@20"] == mean
        assert rows[2]["setting"].startswith("ease_lambda=")  # chosen on the validation window
        for metric, ratio in report["ratios"][window].items():  # against the best baseline, paired over cases
            best = max(rows[1:], key=lambda r: r["values"][metric])
            assert ratio["baseline"] == best["name"]
            assert ratio["ratio"] == pytest.approx(rows[0]["values"][metric] / best["values"][metric])
            assert ratio["low"] <= ratio["ratio"] <= ratio["high"]
    assert "(95% paired bootstrap intervals over the cases)" in result.stdout
