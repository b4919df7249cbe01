"""The synthetic release: MovieLens bytes, determinism, and the structure planted in it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from pipelines.data.features import build_catalog
from pipelines.data.load import load_release
from pipelines.data.split import group_by_user, temporal_split
from pipelines.data.synthetic.release import generate
from pipelines.data.synthetic.world import World

HEADERS = {
    "ratings.csv": "userId,movieId,rating,timestamp",
    "movies.csv": "movieId,title,genres",
    "tags.csv": "userId,movieId,tag,timestamp",
    "links.csv": "movieId,imdbId,tmdbId",
    "genome-scores.csv": "movieId,tagId,relevance",
    "genome-tags.csv": "tagId,tag",
}


def truth(folder: Path) -> tuple[World, np.ndarray]:
    with np.load(folder / "planted_truth.npz") as z:
        movie_ids = z["movie_ids"]
        world = World(**{k: z[k] for k in World.__dataclass_fields__})
    return world, movie_ids


def test_same_seed_same_bytes_other_seed_other_bytes(tiny_release: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", "tiny", seed=1)
    other = generate(tmp_path / "other", "tiny", seed=2)
    for name in HEADERS:
        assert (again / name).read_bytes() == (tiny_release / name).read_bytes(), name
    assert (other / "ratings.csv").read_bytes() != (tiny_release / "ratings.csv").read_bytes()


def test_files_have_the_release_format(small_release: Path) -> None:
    for name, header in HEADERS.items():
        data = (small_release / name).read_bytes()
        assert data.startswith(header.encode() + b"\n") and data.endswith(b"\n"), name
    with (small_release / "movies.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[1:]
    assert all(len(r) == 3 for r in rows)
    titles = [r[1] for r in rows]
    assert any("," in t for t in titles) and any(not t.isascii() for t in titles)
    assert any(t.count("(") >= 2 for t in titles) and any(not t.rstrip().endswith(")") for t in titles)
    assert any(t.endswith("-)") for t in titles) and any(t != t.rstrip() for t in titles)
    assert any(r[2] == "(no genres listed)" for r in rows)
    raw_movies = (small_release / "movies.csv").read_text(encoding="utf-8")
    assert '"' in raw_movies and ',"' in raw_movies  # quoted only where needed
    assert "Sci-Fi" in raw_movies and '"Sci-Fi' not in raw_movies
    links = (small_release / "links.csv").read_text().splitlines()[1:]
    assert any(line.endswith(",") for line in links) and all(len(line.split(",")[1]) >= 7 for line in links)
    first_ratings = (small_release / "ratings.csv").read_text().splitlines()[1:4]
    assert all(line.split(",")[2] in {f"{s / 2:.1f}" for s in range(1, 11)} for line in first_ratings)


@pytest.fixture(scope="module")
def small(small_release: Path):
    raw = load_release(small_release)
    world, movie_ids = truth(small_release)
    internal = np.searchsorted(movie_ids, raw.rating_movie_ids, sorter=np.argsort(movie_ids))
    internal = np.argsort(movie_ids)[internal]
    return raw, world, internal, raw.user_ids - 1


def test_ratings_follow_the_planted_taste(small) -> None:
    raw, world, movies, users = small
    expected = world.mean_rating(users, movies, raw.timestamps)
    assert np.corrcoef(expected, raw.ratings)[0, 1] > 0.5


def test_users_rate_mostly_in_their_favourite_clusters(small) -> None:
    raw, world, movies, users = small
    affinity = world.cluster_affinity(world.taste(users, raw.timestamps))
    chosen = affinity[np.arange(len(users)), world.movie_cluster[movies]]
    # The same movies given to random other users' rows: what no planted taste would look like.
    shuffled = affinity[np.random.default_rng(0).permutation(len(users)), world.movie_cluster[movies]]
    assert chosen.mean() > 1.4 * shuffled.mean()


def test_taste_drifts_from_start_to_end(small) -> None:
    raw, world, movies, users = small
    drift = world.drift(users, raw.timestamps)
    cluster = world.movie_cluster[movies]
    start = world.cluster_affinity(world.user_taste_start[users])[np.arange(len(users)), cluster]
    end = world.cluster_affinity(world.user_taste_end[users])[np.arange(len(users)), cluster]
    early, late = drift < 0.1, drift > 0.9
    assert start[early].mean() > end[early].mean() and end[late].mean() > start[late].mean()


def test_popularity_is_heavy_tailed_and_users_rate_in_bursts(small) -> None:
    raw, _, movies, _ = small
    counts = np.sort(np.bincount(movies))[::-1]
    assert counts[: len(counts) // 10].sum() > 0.5 * counts.sum()
    data = group_by_user(raw.user_ids, movies, raw.ratings, raw.timestamps)
    gaps = np.diff(data.timestamps)
    same_user = np.diff(np.repeat(np.arange(len(data)), data.lengths)) == 0
    assert np.median(gaps[same_user]) < 600  # most consecutive ratings are minutes apart


def test_new_movies_appear_after_the_training_cut(small_release: Path) -> None:
    raw = load_release(small_release)
    catalog = build_catalog(raw)
    movies = catalog.index_of(raw.rating_movie_ids)
    split = temporal_split(group_by_user(raw.user_ids, movies, raw.ratings, raw.timestamps),
                           val_frac=0.1, test_frac=0.1)  # fmt: skip
    seen = np.bincount(split.train.movies, minlength=catalog.num_movies + 1) > 0
    cold_targets = ~seen[split.test.target_movies]
    assert 0.005 < cold_targets.mean() < 0.5
