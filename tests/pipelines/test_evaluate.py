"""`python -m pipelines.evaluate` as a user runs it: the table, every file, and exit 2 on bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipelines.evaluation import metrics, per_case, suite
from tests.conftest import run_module

METHODS = [
    "planted_oracle",
    "planted_movies_history_taste",
    "popularity",
    "recent_popularity",
    "item_knn",
    "ease",
    "ials",
    "new_in_genres",
    "title_knn",
]


def run_evaluate(*args: str) -> subprocess.CompletedProcess:
    return run_module("pipelines.evaluate", *args, timeout=300)


def test_evaluate_writes_the_report(tiny_release: Path, tmp_path: Path) -> None:
    flagfile = tmp_path / "tiny.flags"
    out = tmp_path / "out"
    flagfile.write_text(f"--data_dir={tiny_release}\n--cache_dir={tmp_path / 'cache'}\n--eval_resamples=50\n"
                        f"--ials_iterations=3\n--model_dir={tmp_path / 'no-model-yet'}\n")  # fmt: skip
    result = run_evaluate(f"--flagfile={flagfile}", f"--out_dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    for method in METHODS:
        assert method in result.stdout
    assert "no trained model" in result.stderr
    written = json.loads((out / "metrics.json").read_text())
    assert list(written["methods"]) == METHODS
    for method in written["methods"].values():
        for window in ("validation", "test"):
            ev = method[window]
            assert set(ev["overall"]) == {
                *metrics.METRICS,
                "coverage@10",
                "popularity_percentile@10",
                "cold_movie_share@20",
            }
            assert {"mean", "low", "high"} <= set(ev["overall"]["recall@20"])
            assert set(ev["slices"]) == {"cold_users", "users_with_history", "cold_movie_targets", "warm_movie_targets"}
            assert ev["cases"] == written["figures"][f"{'val' if window == 'validation' else 'test'}_users"]
    baselines = METHODS[2:]
    assert list(written["tuning"]) == baselines  # tuned by default, each with its grid and choice
    for name in baselines:
        tuned = written["tuning"][name]
        assert len(tuned["scores"]) == len(tuned["grid"]) and tuned["chosen"] in tuned["grid"]
        chosen = tuned["scores"][tuned["grid"].index(tuned["chosen"])]
        assert chosen == max(tuned["scores"])
        # The choice is scored again on the validation window, with intervals: the same mean.
        assert written["methods"][name]["validation"]["overall"]["recall@20"]["mean"] == pytest.approx(chosen)
    assert "tuned on the validation window" in result.stdout
    report = (out / "report.md").read_text()
    assert "## validation" in report and "## test" in report and "| ials |" in report
    assert "## Baselines tuned on the validation window" in report
    for png in ("recall_at_k.png", "by_history_length.png", "popularity_bias.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert any((out / "tensorboard" / "popularity").iterdir())
    assert json.loads((out / "config.json").read_text())["evaluate"]["eval_resamples"] == 50
    values = per_case.load(out / per_case.FILE)  # case by case, in the order of the summaries above
    assert list(values) == METHODS
    for name, windows in values.items():
        for window, by_metric in windows.items():
            assert set(by_metric) == set(metrics.METRICS)
            for metric, array in by_metric.items():
                assert len(array) == written["methods"][name][window]["cases"]
                assert array.mean() == pytest.approx(written["methods"][name][window]["overall"][metric]["mean"])

    subset = run_evaluate(f"--flagfile={flagfile}", f"--out_dir={out}", "--baselines=popularity", "--notune_baselines",
                          "--noplanted_oracle")  # fmt: skip
    assert subset.returncode == 0, subset.stderr[-3000:]
    untuned = json.loads((out / "metrics.json").read_text())
    assert list(untuned["methods"]) == ["popularity"] and "tuning" not in untuned


@pytest.mark.parametrize("args, message", [
    (["--baselines=popularity,svd"], "unknown baseline(s) svd"),
    (["--baselines=ease", "--ease_memory_gb=0.000001"], "ease_max_items"),
    (["--baselines=none", "--noplanted_oracle"], "nothing to evaluate"),
    (["--baselines=title_knn", "--notune_baselines", "--title_weight=-1"], "--title_weight must be 0 or more"),
])  # fmt: skip
def test_bad_input_exits_2_with_one_line(tiny_release: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = run_evaluate(f"--data_dir={tiny_release}", f"--cache_dir={tmp_path / 'cache'}",
                          f"--out_dir={tmp_path / 'out'}", *args)  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], result.stderr[-2000:]
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_a_missing_model_dir_means_baselines_only(tmp_path: Path) -> None:
    config = suite.resolve(suite.EvaluateConfig(model_dir=str(tmp_path / "not-trained")))
    assert config.model_dir is None and suite.output_dir(config) == Path("runs/evaluation")
    (tmp_path / "model").mkdir()
    config = suite.resolve(suite.EvaluateConfig(model_dir=str(tmp_path / "model")))
    assert suite.output_dir(config) == tmp_path / "model" / "evaluation"
