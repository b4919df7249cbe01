"""Baselines against hand-computed or brute-force NumPy answers, and a data set whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.data.errors import DataError
from pipelines.data.split import Interactions, group_by_user
from pipelines.evaluation.baselines import common, factorization, linear, neighbors, popularity, registry
from pipelines.evaluation.baselines.popularity import DAY_S
from pipelines.evaluation.evaluator import Queries

T_VAL = 1_000 * DAY_S


def interactions(rows: list[list[int]], times: list[list[int]] | None = None) -> Interactions:
    """One CSR row per list of movies (timestamps 1, 2, ... unless given)."""
    users = np.repeat(np.arange(len(rows)) + 1, [len(r) for r in rows])
    movies = np.concatenate([np.array(r, np.int32) for r in rows]) if rows else np.zeros(0, np.int32)
    stamps = np.concatenate(times) if times else np.arange(1, len(movies) + 1)
    return group_by_user(users, movies, np.full(len(movies), 4.0, np.float32), np.asarray(stamps, np.int64))


def queries(rows: list[list[int]]) -> Queries:
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    movies = np.concatenate([np.array(r, np.int32) for r in rows])
    history = Interactions(np.arange(len(rows)) + 1, offsets, movies, np.ones(len(movies), np.float32),
                           np.zeros(len(movies), np.int64))  # fmt: skip
    return Queries(history, np.full(len(rows), T_VAL))


def no_words(movies: int) -> np.ndarray:
    """Title words of movies whose titles share none."""
    return np.zeros((movies, 8), np.int32)


def test_popularity_and_recent_popularity() -> None:
    day = DAY_S
    train = interactions([[1, 2, 3], [1, 2], [1, 4]],
                         [[T_VAL - 400 * day, T_VAL - 300 * day, T_VAL - 10 * day],
                          [T_VAL - 200 * day, T_VAL - 89 * day], [T_VAL - 95 * day, T_VAL - 1]])  # fmt: skip
    pop = popularity.popularity(train, num_movies=5)
    assert pop.scores(queries([[1], []])).tolist() == [[0, 3, 2, 1, 1, 0]] * 2
    recent = popularity.recent_popularity(train, num_movies=5, t_val=T_VAL, days=90)
    # In the last 90 days: movie 3 once, 2 once, 4 once; ties ordered by all-time counts (2 > 3 = 4).
    row = recent.scores(queries([[1]]))[0]
    assert np.argsort(-row, kind="stable")[:4].tolist() == [2, 3, 4, 1]
    assert np.floor(row).tolist() == [0, 0, 1, 1, 1, 0]


def test_item_knn_matches_brute_force_cosine() -> None:
    rng = np.random.default_rng(0)
    dense = (rng.random((40, 13)) < 0.3).astype(np.float64)
    dense[:, 0] = 0  # the padding column
    train = interactions([list(np.flatnonzero(r)) for r in dense if r.any()])
    x = dense[dense.any(axis=1)]
    norms = np.sqrt(x.sum(axis=0))
    cosine = (x.T @ x) / np.maximum(np.outer(norms, norms), 1e-12)
    np.fill_diagonal(cosine, 0)
    knn = neighbors.item_knn(train, num_movies=12, neighbours=12)  # every neighbour kept
    history = [[1, 5], [2], [3, 4, 7]]
    got = knn.scores(queries([*history, []]))
    for r, h in enumerate(history):
        summed = cosine[h].sum(axis=0)
        positive = summed > 0
        np.testing.assert_allclose(got[r][positive], summed[positive], rtol=1e-5)
        assert (got[r][~positive] < 0).all(), "unreached movies rank below every similar one"
    np.testing.assert_array_equal(got[-1], x.sum(axis=0)), "a cold user gets the popularity ranking"
    few = neighbors.cosine_neighbours(common.binary_matrix(train, 13), neighbours=3, block=4).toarray()
    for i in range(13):
        kept = few[i][few[i] > 0]
        assert len(kept) <= 3
        np.testing.assert_allclose(np.sort(kept), np.sort(cosine[i])[::-1][: len(kept)][::-1], rtol=1e-5)


def test_ease_matches_the_closed_form_and_caps_items() -> None:
    rng = np.random.default_rng(1)
    dense = (rng.random((60, 9)) < 0.35).astype(np.float64)
    dense[:, 0] = 0
    dense[:, 8] = 0
    dense[:3, 8] = 1  # movie 8: the least rated
    train = interactions([list(np.flatnonzero(r)) for r in dense if r.any()])
    x = dense[dense.any(axis=1)][:, 1:]
    lam = 5.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(8))
    b = np.eye(8) - p / np.diag(p)[None, :]
    model = linear.ease(train, 8, lam, max_items=8, memory_gb=1)
    history = [[1, 2], [3, 8]]
    got = model.scores(queries(history))
    for r, h in enumerate(history):
        np.testing.assert_allclose(got[r, 1:], b[np.array(h) - 1].sum(axis=0), rtol=1e-4, atol=1e-6)
    capped = linear.ease(train, 8, lam, max_items=7, memory_gb=1)
    assert 8 not in capped.items.tolist()
    assert capped.scores(queries([[1]]))[0, 8] == common.BELOW_EVERY_SCORE
    with pytest.raises(ValueError, match="ease_max_items"):
        linear.ease(train, 8, lam, max_items=8, memory_gb=1e-9)


def test_ials_fold_in_is_the_als_least_squares_solution_and_finds_the_block() -> None:
    # Checkerboard: users 0-29 rate movies 1-10, users 30-59 rate movies 11-20 (each about 70% of them).
    rng = np.random.default_rng(2)
    rows = [list(1 + 10 * (u >= 30) + np.flatnonzero(rng.random(10) < 0.7)) for u in range(60)]
    model = factorization.ials(interactions(rows), num_movies=20, factors=4, regularization=0.1, alpha=4.0,
                               iterations=10, seed=0)  # fmt: skip
    history = [[1, 2, 3], [15, 16], []]
    folded = model.user_factors(queries(history))
    y = model.item_factors.astype(np.float64)
    for r, h in enumerate(history[:2]):
        yh = y[h]
        a = y.T @ y + 0.1 * np.eye(4) + (4.0 - 1.0) * yh.T @ yh
        np.testing.assert_allclose(folded[r], np.linalg.solve(a, 4.0 * yh.sum(axis=0)), rtol=1e-3, atol=1e-4)
    scores = model.scores(queries(history))
    for r, block in ((0, range(1, 11)), (1, range(11, 21))):
        unseen = np.setdiff1d(np.array(block), history[r])
        row = scores[r].copy()
        row[[0, *history[r]]] = -np.inf  # as the evaluator does
        best = np.argsort(-row)[: len(unseen)]
        assert set(best) == set(unseen), "the fold-in user's best movies are the rest of its block"
    np.testing.assert_array_equal(scores[2], np.bincount(np.concatenate(rows), minlength=21))


def test_parse_names() -> None:
    assert registry.parse_names("all") == list(registry.NAMES)
    assert registry.parse_names("none") == []
    assert registry.parse_names("ials, popularity") == ["popularity", "ials"]
    with pytest.raises(DataError, match="unknown baseline"):
        registry.parse_names("popularity,svd")


def test_new_in_genres_ranks_the_newest_movies_of_the_users_genres_first() -> None:
    from pipelines.evaluation.baselines.content import MovieContent, new_in_genres

    # Genres: movies 1-2 comedy, 3-4 drama, 5 comedy; years: 5 and 3 are new at T_val, 1, 2 and 4 old.
    genres = np.zeros((6, 2), np.float32)
    genres[[1, 2, 5], 0] = 1
    genres[[3, 4], 1] = 1
    t_val = int((2020.0 - 1970.0) * 31_556_952)
    years = np.array([0, 1990, 2000, 2019, 1980, 2019], np.float32)
    model = new_in_genres(MovieContent(genres, years, no_words(6)), np.array([0, 9, 5, 0, 1, 0]), t_val, half_life=1.0)
    scores = model.scores(queries([[1, 2], []]))
    assert np.argmax(scores[0]) == 5  # a comedy fan: the new comedy
    assert scores[0, 5] == pytest.approx(0.5**0.5, rel=1e-3)  # half a year old at T_val, half-life 1 year
    assert scores[0, 3] < 1e-5  # a new drama has no affinity with a comedy history
    assert np.argsort(-scores[1])[:2].tolist() == [3, 5]  # no history: newness alone, ties by lower index
    with pytest.raises(ValueError, match="half_life"):
        new_in_genres(MovieContent(genres, years, no_words(6)), np.zeros(6), t_val, half_life=0)


def test_new_in_genres_does_not_take_no_genres_listed_for_a_genre() -> None:
    from pipelines.data.content import genre_features
    from pipelines.data.features import genre_multi_hot
    from pipelines.evaluation.baselines.content import MovieContent, new_in_genres

    # Movies 1-3 have no genres listed, 4 is a comedy; all new. A history of movie 1 says nothing about 2 or 3.
    genres = genre_features(genre_multi_hot(["(no genres listed)"] * 4 + ["Comedy"]))
    t_val = int((2020.0 - 1970.0) * 31_556_952)
    years = np.full(5, 2019, np.float32)
    content = MovieContent(genres, years, no_words(5))
    scores = new_in_genres(content, np.zeros(5), t_val, half_life=1.0).scores(queries([[1]]))
    np.testing.assert_array_equal(scores[0, 1:], 0.0)


def test_title_knn_ranks_the_movies_that_share_rare_title_words_with_the_history_first() -> None:
    from pipelines.data.content import title_tokens
    from pipelines.evaluation.baselines.content import MovieContent, new_in_genres, title_knn

    titles = ["", "Star Wars", "Star Wars: Episode II", "The Party", "The Star", "The Matrix", "The Wars"]
    words, vocabulary = title_tokens(titles)  # words in two or more titles: the, star, wars
    assert sorted(vocabulary) == ["star", "the", "wars"]
    genres = np.ones((7, 1), np.float32)
    genres[0] = 0
    years = np.full(7, 2019, np.float32)
    t_val = int((2020.0 - 1970.0) * 31_556_952)
    content = MovieContent(genres, years, words)
    model = title_knn(content, np.zeros(7), t_val, half_life=1.0, title_weight=0.5)
    scores = model.scores(queries([[1], [3]]))
    # idf(w) = log(7 / (1 + movies with w)): star 3 movies, wars 3, the 4.
    idf_star, idf_the = np.log(7 / 4), np.log(7 / 5)
    in_genres = new_in_genres(content, np.zeros(7), t_val, half_life=1.0).scores(queries([[1], [3]]))
    np.testing.assert_allclose(scores[0, 2] - in_genres[0, 2], 0.5 * np.log1p(2 * idf_star**2), rtol=1e-5)
    np.testing.assert_allclose(scores[0, 4] - in_genres[0, 4], 0.5 * np.log1p(idf_star**2), rtol=1e-5)
    np.testing.assert_allclose(scores[0, 5] - in_genres[0, 5], 0.0, atol=1e-6)  # no word shared with Star Wars
    np.testing.assert_allclose(scores[1, 5] - in_genres[1, 5], 0.5 * np.log1p(idf_the**2), rtol=1e-5)
    assert scores[0, 2] > scores[0, 4] > scores[0, 3]  # the sequel, then one shared word, then "the" alone
    unweighted = title_knn(content, np.zeros(7), t_val, half_life=1.0, title_weight=0.0)
    np.testing.assert_array_equal(unweighted.scores(queries([[1], [3]])), in_genres)
    with pytest.raises(ValueError, match="title_weight"):
        title_knn(content, np.zeros(7), t_val, half_life=1.0, title_weight=-1.0)
