"""export.query: readable, explained recommendations from the command line (one real subprocess) and the
other modes and refusals in process."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from export.bundle import Export, parse_history
from export.query import QueryConfig, run, user_history
from pipelines.data.errors import DataError
from tests.conftest import run_module

ROOT = Path(__file__).resolve().parents[2]
RANK_LINE = re.compile(r"^\s+(\d+)\s+(-?\d\.\d{3})\s+(.+?)  \[(.+)\]$")


def liked_history(export_prepared, count: int = 4) -> str:
    ids = export_prepared.catalog.movie_ids[1 : count + 1]
    return ",".join(f"{m}:{5.0 - i * 0.5}" for i, m in enumerate(ids))


def test_cli_prints_ranked_titles_with_reasons(export_dir: Path, export_prepared) -> None:
    history = liked_history(export_prepared)
    result = run_module("export.query", f"--export_dir={export_dir}", f"--history={history}", "--num_results=5",
                        timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("Top 5 for the given history (4 ratings; scann index")
    ranks = [RANK_LINE.match(line) for line in lines if RANK_LINE.match(line)]
    assert [int(m.group(1)) for m in ranks] == [1, 2, 3, 4, 5]
    scores = [float(m.group(2)) for m in ranks]
    assert scores == sorted(scores, reverse=True)
    movies = pd.read_csv(export_dir / "movies.csv", keep_default_na=False, dtype={"title": str})
    titles = {f"{t} ({y})" if y else t for t, y in zip(movies.title, movies.year, strict=True)}
    assert all(m.group(3) in titles for m in ranks)
    history_titles = {titles_of(movies, int(m)) for m, _ in parse_history(history)}
    reasons = [line for line in lines if "because you liked" in line or "nearest in your history" in line]
    assert len(reasons) == 5 and all(any(t in line for t in history_titles) for line in reasons)


def titles_of(movies: pd.DataFrame, movie_id: int) -> str:
    row = movies.set_index("movie_id").loc[movie_id]
    return f"{row.title} ({row.year})" if row.year else row.title


def test_similar_and_user_modes(export_dir: Path, export_prepared, tiny_release: Path) -> None:
    movie_id = int(export_prepared.catalog.movie_ids[1])
    text = run(QueryConfig(export_dir=str(export_dir), similar_to=movie_id, num_results=3, index="brute_force"))
    assert text.startswith("Movies similar to ") and len([x for x in text.splitlines() if RANK_LINE.match(x)]) == 3
    assert "genome tags" in text or "(no genres listed)" in text or "[" in text
    user = int(export_prepared.split.train.user_ids[0])
    history, stamps = user_history(tiny_release, user)
    assert stamps == sorted(stamps) and len(history) == len(stamps)
    text = run(QueryConfig(export_dir=str(export_dir), user_id=user, data_dir=str(tiny_release)))
    assert text.startswith(f"Top 10 for user {user} ({len(history)} ratings")
    recommended = [RANK_LINE.match(x).group(3) for x in text.splitlines() if RANK_LINE.match(x)]
    movies = pd.read_csv(export_dir / "movies.csv", keep_default_na=False, dtype={"title": str})
    assert not set(recommended) & {titles_of(movies, m) for m, _ in history}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "exactly one of"),
        ({"history": "1:5", "similar_to": 1}, "exactly one of"),
        ({"history": " , "}, "history is empty"),
        ({"history": "1:five"}, "bad history item"),
        ({"history": "1:9"}, "ratings run from"),
        ({"history": f"{10**9}:4"}, "unknown movieIds"),
        ({"similar_to": 10**9}, "unknown movieId"),
        ({"user_id": 10**9, "data_dir": "TINY"}, "has no ratings"),
        ({"history": "1:5", "num_results": 0}, r"--num_results must be in 1\.\.20 \(the exported k\), got 0"),
        ({"history": "1:5", "num_results": 21}, r"--num_results must be in 1\.\.20"),
    ],
)
def test_bad_queries_are_refused(export_dir: Path, tiny_release: Path, overrides: dict, message: str) -> None:
    if overrides.get("data_dir") == "TINY":
        overrides = {**overrides, "data_dir": str(tiny_release)}
    with pytest.raises((DataError, ValueError), match=message):
        run(QueryConfig(export_dir=str(export_dir), **overrides))


def test_parse_history() -> None:
    assert parse_history("1:5, 2:3.5,3") == [(1, 5.0), (2, 3.5), (3, 4.0)]
    assert np.isclose(parse_history("10:0.5")[0][1], 0.5)


def test_explanations_are_spread_over_the_liked_movies_nearest_each_result(export_dir: Path) -> None:
    """A known answer: results equally near two liked movies cite them in turn; a result near only one
    cites it; `also` is the nearest other history movie, whatever its rating."""
    export = Export(export_dir, "brute_force")
    a, b, c, d = 11, 12, 13, 14  # history movies (c rated 2, not liked); 21..24 results
    unit = np.eye(4, dtype=np.float32)
    vectors = {a: unit[0], b: unit[1], c: unit[2], d: unit[3],
               21: unit[0] + unit[1], 22: unit[0] + unit[1], 23: unit[0] + 0.3 * unit[2], 24: unit[3]}  # fmt: skip
    export.dense = {m: i for i, m in enumerate(vectors)}
    export.embeddings = np.stack([v / np.linalg.norm(v) for v in vectors.values()])
    export.info = {m: (f"movie {m}", 2000, "Drama") for m in vectors}
    history = [(a, 5.0), (b, 4.0), (c, 2.0), (d, 4.5)]
    explained = export.anchors([21, 22, 23, 24], history)
    assert [because.movie["movie_id"] for because, _ in explained] == [a, b, a, d]
    assert explained[0][1].movie["movie_id"] == b and explained[2][1].movie["movie_id"] == c
    assert explained[2][1].rating == 2.0 and explained[0][0].to_json()["similarity"] == pytest.approx(0.7071, abs=1e-4)
    assert set(explained[0][0].to_json()) == {"movie_id", "title", "year", "genres", "rating", "similarity"}
