"""benchmarks.compare_runs: the paired difference of two sets of runs, end to end, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks.compare_runs import compare
from pipelines.evaluation import per_case
from tests.conftest import run_module


def runs(*shifts: float, cases: int = 40) -> list[per_case.PerCase]:
    base = np.linspace(0.0, 0.5, cases)
    return [{"two-tower": {w: {"recall@20": base + s} for w in ("validation", "test")}} for s in shifts]


def test_compare_averages_each_sets_runs_per_case_and_differences_them() -> None:
    results = compare(runs(0.0, 0.02), runs(0.05, 0.05, 0.08), ["recall@20"])
    r = results["validation"]["recall@20"]
    assert r["a"] == pytest.approx(0.25 + 0.01) and r["a_spread"] == pytest.approx(0.01)
    assert r["b"] == pytest.approx(0.25 + 0.06) and r["b_spread"] == pytest.approx(0.015)
    assert (r["difference"], r["low"], r["high"], r["ahead"]) == pytest.approx((0.05, 0.05, 0.05, 1.0))
    with pytest.raises(ValueError, match="cases"):
        compare(runs(0.0), runs(0.0, cases=30), ["recall@20"])
    with pytest.raises(ValueError, match="ndcg@100"):
        compare(runs(0.0), runs(0.0), ["ndcg@100"])


def test_cli_prints_the_difference_and_refuses_runs_of_other_data(trained_model: Path, tmp_path: Path) -> None:
    better = Path(shutil.copytree(trained_model, tmp_path / "better", ignore=shutil.ignore_patterns("export")))
    values = per_case.load(better / per_case.FILE)
    values["two-tower"]["test"]["recall@20"] = values["two-tower"]["test"]["recall@20"] + 0.1
    per_case.save(better / per_case.FILE, values)
    result = run_module("benchmarks.compare_runs", f"--a={trained_model}", f"--b={better}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {tuple(line.split()[:2]): line.split() for line in result.stdout.splitlines()}
    assert rows[("validation", "recall@20")][6:9] == ["+0.0000", "[+0.0000,", "+0.0000]"]
    assert rows[("test", "recall@20")][6:9] == ["+0.1000", "[+0.1000,", "+0.1000]"]

    # The same data prepared in another cache (another fingerprint, the same data settings) is compared ...
    other_cache = Path(shutil.copytree(better, tmp_path / "other_cache"))
    edit_config(other_cache, fingerprint="0123456789abcdef01234567", cache_dir="elsewhere")
    edit_config(better, fingerprint="76543210fedcba9876543210")
    compared = run_module("benchmarks.compare_runs", f"--a={better}", f"--b={other_cache}")
    assert compared.returncode == 0, compared.stderr[-3000:]
    # ... another split is not
    other_split = Path(shutil.copytree(other_cache, tmp_path / "other_split"))
    edit_config(other_split, fingerprint="0123456789abcdef01234567", val_frac=0.2)
    refused = run_module("benchmarks.compare_runs", f"--a={other_cache},{other_split}", f"--b={better}")
    assert refused.returncode == 2 and "different data" in refused.stderr and "Traceback" not in refused.stderr
    missing = run_module("benchmarks.compare_runs", f"--a={trained_model}", f"--b={tmp_path / 'nowhere'}")
    assert missing.returncode == 2 and "nowhere" in missing.stderr and "Traceback" not in missing.stderr


def edit_config(folder: Path, fingerprint: str, **prepare: object) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["prepare"].update(prepare)
    (folder / "config.json").write_text(json.dumps({**config, "data_fingerprint": fingerprint}))
