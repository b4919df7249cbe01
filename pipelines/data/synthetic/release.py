"""Synthetic MovieLens: writes a release in the real format with known structure planted in it.

Writes ratings.csv, movies.csv, tags.csv, links.csv, genome-scores.csv, genome-tags.csv (as ml-latest
does: quoted titles with commas, unicode, several parenthesised groups, missing years, series ranges,
`(no genres listed)`, sparse movieIds, empty tmdbIds, odd tags) and planted_truth.npz, the generative
model's parameters (see pipelines/data/synthetic/world.py), which no loader reads.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from pipelines.data import atomic
from pipelines.data.releases import LAYOUTS
from pipelines.data.schema import GENRES
from pipelines.data.synthetic.layouts import write_layout
from pipelines.data.synthetic.world import PRESETS, T_END, T_START, YEAR_S, World, make_world, sample_ratings

WORDS = (
    "Night", "Love", "Dark", "City", "Last", "Dead", "Blue", "Red", "Lost", "Wild", "Star", "Iron", "Ghost",
    "Dream", "Shadow", "Silent", "King", "Queen", "River", "Winter", "Summer", "Fire", "Ice", "Stone",
    "Glass", "Golden", "Broken", "Secret", "Little", "Big", "Long", "Road", "Home", "House", "Sea", "Moon",
    "Sun", "Day", "Time", "War", "Heart", "Blood", "Game", "Story", "Man", "Woman", "Girl", "Boy", "Dog",
    "Cat", "Island", "Mountain", "Storm", "Garden", "Letter",
)  # fmt: skip
UNICODE_WORDS = ("Amélie", "Café", "Señor", "Zoë", "Fête", "Crème", "Björk", "Şehir", "Łódź", "東京", "Ökonomie")
ARTICLES = ("The", "A", "An", "Les", "La", "Il")
TAG_WORDS = (
    "dark", "funny", "sad", "visually", "stunning", "atmospheric", "quirky", "violent", "romantic",
    "thought-provoking", "twist", "slow", "based-on-a-book", "classic", "cult", "space", "time-travel",
    "heist", "dystopia", "friendship", "revenge", "family", "music", "war", "historical", "surreal", "satire",
    "noir", "gore", "superhero", "animation", "musical", "documentary", "courtroom", "police", "magic",
    "dragons", "zombies", "robots", "aliens", "sports", "survival", "coming-of-age", "road-trip",
)  # fmt: skip
GENOME_SUFFIXES = ("", " ending", " plot", " characters", " cinematography", " soundtrack",
                   " dialogue", " acting", " humor", " violence", " story", " atmosphere")  # fmt: skip


def _write_csv(path: Path, header: str, columns: dict[str, pa.Array]) -> None:
    """Header line as MovieLens writes it, then the rows, quoting only fields that need it (as the
    releases do). pyarrow writes unquoted tables fast; tables with commas or quotes go through csv."""
    table = pa.table(columns)
    with path.open("wb") as f:
        f.write((header + "\n").encode())
        try:
            pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False, quoting_style="none"))
            return
        except pa.ArrowInvalid:
            f.seek(0)
            f.truncate()
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(header + "\n")
        rows = zip(*(["" if v is None else v for v in c.to_pylist()] for c in table.columns), strict=True)
        csv.writer(f, lineterminator="\n").writerows(rows)


def genome_tag_names(count: int) -> list[str]:
    names = [w.replace("-", " ") + s for s in GENOME_SUFFIXES for w in TAG_WORDS]
    extra = [f"{a} {b}" for a in TAG_WORDS for b in TAG_WORDS if a != b]
    names = list(dict.fromkeys(names + extra))
    if count > len(names):
        raise ValueError(f"at most {len(names)} genome tags")
    return names[:count]


def make_titles(years: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Titles with the quirks of movies.csv: trailing articles, commas, unicode, alternative titles in
    parentheses, missing years, series year ranges and trailing spaces."""
    titles = []
    for year in years.tolist():
        words = list(rng.choice(WORDS, size=int(rng.integers(1, 4))))
        if rng.random() < 0.04:
            words[0] = str(rng.choice(UNICODE_WORDS))
        title = " ".join(words)
        kind = rng.random()
        if kind < 0.10:
            title = f"{title}, {rng.choice(ARTICLES)}"
        elif kind < 0.14:
            title = f"{title}, {rng.choice(WORDS)} and {rng.choice(WORDS)}"
        elif kind < 0.17:
            title = f"{title} ({' '.join(rng.choice(WORDS, size=2))})"
        elif kind < 0.18:
            title = f'"{title}"'
        quirk = rng.random()
        if quirk < 0.01:
            titles.append(title)  # no year at all
        elif quirk < 0.015:
            titles.append(f"{title} ({year}-)")
        elif quirk < 0.02:
            titles.append(f"{title} ({year}-{year + int(rng.integers(1, 6))})")
        elif quirk < 0.025:
            titles.append(f"{title} ({year}) ")
        else:
            titles.append(f"{title} ({year})")
    return titles


def make_genres(world: World, rng: np.random.Generator) -> list[str]:
    directions = rng.normal(size=(len(GENRES) - 1, world.movie_factors.shape[1]))
    scores = world.movie_factors @ directions.T / np.sqrt(world.movie_factors.shape[1])
    scores += 0.15 * rng.normal(size=scores.shape)
    has = scores > np.quantile(scores, 0.88, axis=0)
    none = rng.random(len(has)) < 0.08
    has[none] = False
    return ["|".join(GENRES[g] for g in np.flatnonzero(row)) or GENRES[-1] for row in has]


def make_genome(world: World, movies: np.ndarray, tags: int, rng: np.random.Generator) -> np.ndarray:
    """[len(movies), tags] relevances in [0, 1]: a sparse-ish logistic function of the factors."""
    loadings = 2.5 * rng.normal(size=(tags, world.movie_factors.shape[1]))
    logits = world.movie_factors[movies] @ loadings.T - 2.5 + 0.6 * rng.normal(size=(len(movies), tags))
    return np.round(1.0 / (1.0 + np.exp(-logits)), 5)


def make_tags(world: World, preset, users, movies, times, movie_ids, genome_names, rng) -> dict:
    """Free-text tags from heavy users, mostly the movie's strongest planted themes, some odd ones."""
    weight = np.bincount(users, minlength=preset.users).astype(float) ** 1.5
    weight /= weight.sum()
    pick = rng.choice(len(users), size=preset.tags, p=weight[users] / weight[users].sum())
    theme = np.argmax(world.movie_factors[movies[pick]] @ rng.normal(size=(world.movie_factors.shape[1], 8))
                      + 0.8 * rng.normal(size=(len(pick), 8)), axis=1)  # fmt: skip
    pool = [*genome_names[:8], *(n.upper() for n in genome_names[:8]), *(f"  {n} " for n in genome_names[:8]),
            "", "funny, sad", 'so "good"', "café", "漢字", "a\u00a0b"]  # fmt: skip
    choice = np.where(rng.random(len(pick)) < 0.9, theme, rng.integers(8, len(pool), size=len(pick)))
    return {
        "userId": pa.array(users[pick] + 1),
        "movieId": pa.array(movie_ids[movies[pick]]),
        "tag": pa.array(pool).take(pa.array(choice)),
        "timestamp": pa.array(np.minimum(times[pick] + rng.integers(1, 600, len(pick)), T_END)),
    }


def generate(out: Path, preset_name: str, seed: int, layout: str = "csv") -> Path:
    """Writes a synthetic release into `out` (atomically: a temporary sibling renamed into place).

    `layout` (pipelines.data.releases.LAYOUTS) picks the files: csv as ml-latest, or the same release as
    ml-10m, ml-1m or ml-100k write it (pipelines.data.synthetic.layouts); the world and the ratings do not
    depend on it.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    preset = PRESETS[preset_name]
    rng = np.random.default_rng(seed)
    world = make_world(preset, rng)
    users, movies, times, ratings = sample_ratings(world, preset, rng)

    # Sparse movieIds in the order movies joined the catalog (about 289k for 86.5k movies, as ml-latest).
    joined = np.maximum(world.movie_release, T_START) + rng.integers(0, 30 * 86_400, preset.movies)
    movie_ids = np.empty(preset.movies, np.int64)
    movie_ids[np.argsort(joined, kind="stable")] = np.cumsum(rng.choice([1, 1, 1, 2, 7, 40], preset.movies))
    release_dates = [datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=int(t))
                     for t in world.movie_release - rng.integers(0, 2 * YEAR_S, preset.movies)]  # fmt: skip
    years = np.array([max(d.year, 1902) for d in release_dates])

    order = np.lexsort((movie_ids[movies], users))
    by_id = np.argsort(movie_ids)
    titles, genres = make_titles(years, rng), make_genres(world, rng)
    tables = {
        "ratings.csv": {
            "userId": pa.array(users[order] + 1),
            "movieId": pa.array(movie_ids[movies[order]]),
            "rating": pa.array(ratings[order]),
            "timestamp": pa.array(times[order]),
        },
        "movies.csv": {
            "movieId": pa.array(movie_ids[by_id]),
            "title": pa.array([titles[i] for i in by_id]),
            "genres": pa.array([genres[i] for i in by_id]),
        },
    }
    tmdb = pa.array(rng.permutation(10 * preset.movies)[: preset.movies] + 2,
                    mask=rng.random(preset.movies) < 0.01)  # fmt: skip
    tables["links.csv"] = {
        "movieId": pa.array(movie_ids[by_id]),
        "imdbId": pa.array([f"{i:07d}" for i in rng.permutation(9_000_000)[: preset.movies] + 10_000]),
        "tmdbId": tmdb,
    }
    names = genome_tag_names(preset.genome_tags)
    tables["tags.csv"] = make_tags(world, preset, users, movies, times, movie_ids, names, rng)
    tables.update(genome_tables(world, movie_ids, names, preset.genome_movies, rng))

    with atomic.staged_dir(out) as tmp:
        if layout == "csv":
            stars = pa.array([f"{s / 2:.1f}" for s in range(11)])
            as_text = stars.take(pa.array((ratings[order] * 2).astype(np.int64)))
            tables["ratings.csv"] = {**tables["ratings.csv"], "rating": as_text}
            for name, columns in tables.items():
                _write_csv(tmp / name, ",".join(columns), columns)
        else:
            dates = [release_dates[i] for i in by_id]
            write_layout(tmp, layout, tables, dates, np.random.default_rng([seed, 1]))
        np.savez_compressed(tmp / "planted_truth.npz", movie_ids=movie_ids, user_ids=np.arange(preset.users) + 1,
                            **dataclasses.asdict(world))  # fmt: skip
    return out


def genome_tables(world: World, movie_ids, names, count: int, rng) -> dict[str, dict[str, pa.Array]]:
    """Genome for the most popular movies released a year before the end, as GroupLens computes it."""
    eligible = np.flatnonzero(world.movie_release < T_END - YEAR_S)
    chosen = eligible[np.argsort(-world.movie_popularity[eligible], kind="stable")[:count]]
    chosen = chosen[np.argsort(movie_ids[chosen])]
    relevance = make_genome(world, chosen, len(names), rng)
    return {
        "genome-tags.csv": {"tagId": pa.array(np.arange(1, len(names) + 1)), "tag": pa.array(names)},
        "genome-scores.csv": {
            "movieId": pa.array(np.repeat(movie_ids[chosen], len(names))),
            "tagId": pa.array(np.tile(np.arange(1, len(names) + 1), len(chosen))),
            "relevance": pa.array(relevance.ravel()),
        },
    }
