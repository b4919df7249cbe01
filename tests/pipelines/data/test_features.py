"""Movie features: titles, years, genres, genome alignment, tags counted before the cut-off only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.data.content import genre_features
from pipelines.data.features import UNKNOWN_YEAR, aggregate_tags, build_catalog, genre_multi_hot, parse_title
from pipelines.data.load import load_release
from pipelines.data.schema import GENRES


@pytest.mark.parametrize(
    "title, clean, year",
    [
        ("Toy Story (1995)", "Toy Story", 1995),
        ("American President, The (1995)", "The American President", 1995),
        ("Shall We Dance? (Shall We Dansu?) (1996)", "Shall We Dance? (Shall We Dansu?)", 1996),
        ("Babylon 5", "Babylon 5", UNKNOWN_YEAR),
        ("Stranger Things (2016-)", "Stranger Things", 2016),
        ("Fawlty Towers (1975-1979)", "Fawlty Towers", 1975),
        ("Hamlet (1990) ", "Hamlet", 1990),
        ("1900 (Novecento) (1976)", "1900 (Novecento)", 1976),
        (
            "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)",
            "Amélie (Fabuleux destin d'Amélie Poulain, Le)",
            2001,
        ),
        ("Misérables, Les (1995)", "Les Misérables", 1995),
        ("Movie (0001)", "Movie (0001)", UNKNOWN_YEAR),
    ],
)
def test_parse_title(title: str, clean: str, year: int) -> None:
    assert parse_title(title) == (clean, year)


def test_genre_multi_hot_has_twenty_columns() -> None:
    hot = genre_multi_hot(["Comedy|Drama", "(no genres listed)", "IMAX"])
    assert hot.shape == (3, 20)
    assert [GENRES[i] for i in np.flatnonzero(hot[0])] == ["Comedy", "Drama"]
    assert hot[1, GENRES.index("(no genres listed)")] == 1 and hot[1].sum() == 1
    assert hot[2, GENRES.index("IMAX")] == 1


def test_no_genres_listed_is_a_missing_value_not_a_genre() -> None:
    hot = genre_features(genre_multi_hot(["Comedy|Drama", "(no genres listed)", "(no genres listed)", "IMAX"]))
    assert hot.shape == (4, 19)
    assert hot[1].sum() == 0 and hot[2].sum() == 0  # two movies without genres share nothing
    assert [GENRES[i] for i in np.flatnonzero(hot[0])] == ["Comedy", "Drama"]
    assert hot[3, GENRES.index("IMAX")] == 1


def test_catalog_is_aligned_to_a_dense_index_with_padding(hand_release: Path) -> None:
    catalog = build_catalog(load_release(hand_release))
    np.testing.assert_array_equal(catalog.movie_ids, [0, 1, 11, 20, 31])
    np.testing.assert_array_equal(catalog.index_of(np.array([11, 31, 5, 1])), [2, 4, 0, 1])
    assert catalog.clean_titles[2] == "The American President"
    np.testing.assert_array_equal(catalog.years, [0, 1995, 1995, 0, 1995])
    assert catalog.genres[0].sum() == 0 and catalog.genres[4, -1] == 1
    np.testing.assert_array_equal(catalog.genome_rows, [-1, 0, 1, -1, -1])
    dense = catalog.dense_genome()
    np.testing.assert_allclose(dense[2], [0.1, 0.4])
    assert dense[3].sum() == 0 and dense.shape == (5, 2)
    assert catalog.imdb_ids[1] == "0114709" and catalog.tmdb_ids[3] == -1


def test_tags_are_normalised_and_cut_at_the_given_time(hand_release: Path) -> None:
    raw = load_release(hand_release)
    catalog = build_catalog(raw)
    tags = aggregate_tags(raw, catalog, before=700)
    assert tags.vocabulary == ["pixar"]  # 'late' is at 800, after the cut
    movie = catalog.index_of(np.array([1]))[0]
    span = slice(tags.offsets[movie], tags.offsets[movie + 1])
    assert tags.ids[span].tolist() == [0] and tags.counts[span].tolist() == [2]
    assert tags.offsets[-1] == 1
    everything = aggregate_tags(raw, catalog, before=10**10)
    assert sorted(everything.vocabulary) == ["late", "pixar"]


def test_synthetic_quirks_survive_parsing(small_release: Path) -> None:
    catalog = build_catalog(load_release(small_release))
    years = catalog.years[1:]
    assert (years == UNKNOWN_YEAR).any() and (years > 1900).mean() > 0.95
    assert any(t.startswith(("The ", "A ", "An ")) for t in catalog.clean_titles)
    assert catalog.genres[1:, -1].sum() > 0
    assert catalog.has_genome.sum() == 1500 and catalog.genome.shape == (1500, 128)
    assert catalog.movie_ids[1:].max() > 2 * catalog.num_movies  # sparse ids
