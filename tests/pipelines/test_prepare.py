"""`python -m pipelines.prepare` as a user runs it: one JSON line, cache reuse, exit 2 on bad input."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

from tests.conftest import SMALL_RELEASE, run_module, write_release
from tests.pipelines.data.test_layouts import ML_1M

FIGURES = {"ratings", "users", "movies", "genome_movies", "train_ratings", "t_val", "t_test", "val_users",
           "val_targets", "val_cold_users", "test_users", "test_targets", "test_cold_users"}  # fmt: skip


def run_prepare(*args: str) -> subprocess.CompletedProcess:
    return run_module("pipelines.prepare", *args, timeout=120)


def test_prepare_prints_figures_then_reuses_the_cache(tiny_release: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = run_prepare(f"--data_dir={tiny_release}", f"--cache_dir={cache}")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert set(figures) >= FIGURES
    assert figures["ratings"] == 15_000 and figures["movies"] == 600 and figures["genome_movies"] == 200
    assert figures["t_val"] < figures["t_test"]
    assert 0 < figures["val_users"] <= figures["val_targets"]
    prepared = list((cache / "prepared").iterdir())
    assert len(prepared) == 1
    stamp = (prepared[0] / "strings.json").stat().st_mtime_ns
    second = run_prepare(f"--data_dir={tiny_release}", f"--cache_dir={cache}")
    assert second.returncode == 0, second.stderr
    assert {k: v for k, v in json.loads(second.stdout).items() if k != "seconds"} == {
        k: v for k, v in figures.items() if k != "seconds"
    }
    assert (prepared[0] / "strings.json").stat().st_mtime_ns == stamp, "cache was rebuilt"
    other = run_prepare(f"--data_dir={tiny_release}", f"--cache_dir={cache}", "--val_frac=0.2")
    assert json.loads(other.stdout)["val_frac"] == 0.2
    assert len(list((cache / "prepared").iterdir())) == 2


def test_prepare_reads_a_zip(tiny_release: Path, tmp_path: Path) -> None:
    archive = tmp_path / "ml-synthetic.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in tiny_release.glob("*.csv"):
            z.write(path, f"ml-synthetic/{path.name}")
    result = run_prepare(f"--data_dir={archive}", f"--cache_dir={tmp_path / 'cache'}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ratings"] == 15_000


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"ratings.csv": SMALL_RELEASE["ratings.csv"].replace("3.5", "3.7")},
            "ratings.csv, line 3: rating 3.7",
        ),
        ({"movies.csv": None}, "movies.csv: missing file"),
        ({"genome-scores.csv": SMALL_RELEASE["genome-scores.csv"].replace("0.9", "1.5")}, "relevance 1.5"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, change: dict, message: str) -> None:
    release = write_release(tmp_path / "release", {**SMALL_RELEASE, **change})
    result = run_prepare(f"--data_dir={release}", f"--cache_dir={tmp_path / 'cache'}")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "cache" / "prepared").exists() or not list((tmp_path / "cache" / "prepared").iterdir())


def test_corrupt_zip_and_missing_folder_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 this is not a zip")
    for target in (broken, tmp_path / "nowhere"):
        result = run_prepare(f"--data_dir={target}", f"--cache_dir={tmp_path / 'cache'}")
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and str(target.name) in result.stderr


def test_bad_fractions_exit_2(tiny_release: Path, tmp_path: Path) -> None:
    result = run_prepare(f"--data_dir={tiny_release}", f"--cache_dir={tmp_path}", "--val_frac=0.7", "--test_frac=0.5")
    assert result.returncode == 2 and "val_frac" in result.stderr
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.parametrize("release", ["ml-20m", "ml-10m", "ml-1m", "ml-100k"])
def test_every_release_is_known_and_fetched_from_its_own_url(release: str, tmp_path: Path) -> None:
    """--release accepts each benchmark release and asks the mirror for its archive's md5 first (here the
    mirror has nothing: a 404, which is not retried)."""
    asked: list[str] = []

    class Nothing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    mirror = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Nothing)
    threading.Thread(target=mirror.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{mirror.server_address[1]}"
        result = run_prepare(f"--release={release}", f"--base_url={url}", f"--cache_dir={tmp_path}")
    finally:
        mirror.shutdown()
        mirror.server_close()
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert asked == [f"/{release}.zip.md5"] and "404" in lines[0] and "Flags" not in lines[0]


def test_a_bad_line_of_an_older_layout_exits_2_with_one_line(tmp_path: Path) -> None:
    ratings = ML_1M["ratings.dat"].replace("::3::", "::3.5::")
    release = write_release(tmp_path / "ml-1m", {**ML_1M, "ratings.dat": ratings})
    result = run_prepare(f"--data_dir={release}", f"--cache_dir={tmp_path / 'cache'}")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and result.stdout == "", result.stderr
    assert lines[0].endswith("ratings.dat, line 2: rating 3.5 is outside 1..5 or off the whole-star grid (1 such row)")
