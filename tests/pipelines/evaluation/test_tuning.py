"""Validation tuning on data whose right setting is known by construction, the shared-work fast paths against
the plain fits, and the guarantee that the test window plays no part in the choice."""

from __future__ import annotations

import dataclasses
import inspect
import json
import types
from pathlib import Path

import numpy as np
import pytest

from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.data.schema import GENRES
from pipelines.data.split import Cases, Interactions, group_by_user
from pipelines.evaluation import tuning
from pipelines.evaluation.baselines import common, linear, neighbors, registry
from pipelines.evaluation.baselines.popularity import DAY_S
from pipelines.evaluation.baselines.registry import BaselineConfig
from pipelines.evaluation.evaluator import Queries, evaluate

T_VAL = 1_000 * DAY_S


def ratings(pairs: list[tuple[int, int, int]]) -> Interactions:
    """Training ratings from (user, movie, timestamp) triples, every rating a 4.0."""
    users, movies, stamps = (np.array(column, np.int64) for column in zip(*pairs, strict=True))
    return group_by_user(users, movies.astype(np.int32), np.full(len(movies), 4.0, np.float32), stamps)


def make_cases(histories: list[list[int]], targets: list[list[int]]) -> Cases:
    """Cases with the given query histories (possibly empty) and relevant targets, queried at T_VAL."""
    lengths = [len(h) for h in histories]
    movies = np.array([m for h in histories for m in h], np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    stamps = np.full(len(movies), T_VAL - 1, np.int64)
    history = Interactions(
        np.arange(len(histories)) + 1, offsets, movies, np.full(len(movies), 4.0, np.float32), stamps
    )
    target_offsets = np.concatenate([[0], np.cumsum([len(t) for t in targets])]).astype(np.int64)
    target_movies = np.array([m for t in targets for m in t], np.int32)
    return Cases(history, np.full(len(histories), T_VAL, np.int64), target_offsets, target_movies)


def counts_of(train: Interactions, num_movies: int) -> np.ndarray:
    return np.bincount(train.movies, minlength=num_movies + 1)


# Recent popularity: 90 movies, each group popular in one period only (days before T_VAL):
#   1-30 "classics" 20 ratings each 400 days ago; 31-40 "this week" 3 each 2 days ago;
#   41-60 "this month" 5 each 20 days ago; 61-90 "this quarter" 8 each 60 days ago.
# Only a 7-day window puts 31-40 in the top 20; 30 days ranks 41-60 first, 90+ days 61-90 first.
RECENT_MOVIES = 90


def recent_world() -> Interactions:
    groups = ((range(1, 31), 20, 400), (range(31, 41), 3, 2), (range(41, 61), 5, 20), (range(61, 91), 8, 60))
    pairs, user = [], 0
    for movies, raters, days in groups:
        for _ in range(raters):
            user += 1
            pairs += [(user, movie, T_VAL - days * DAY_S + user) for movie in movies]
    return ratings(pairs)


def tune_recent(train: Interactions, val: Cases, **options) -> tuning.Tuned:
    return tuning.tune("recent_popularity", train, val, RECENT_MOVIES, T_VAL, counts_of(train, RECENT_MOVIES),
                       BaselineConfig(), **options)  # fmt: skip


def test_recent_popularity_picks_the_window_of_the_validation_targets() -> None:
    train = recent_world()
    val = make_cases([[], [1], [61, 62]], [[31, 32, 33], [34, 35], [36, 37, 38, 39, 40]])
    tuned = tune_recent(train, val)
    assert [p["recent_days"] for p in tuned.grid] == list(tuning.RECENT_DAYS)
    assert tuned.chosen == {"recent_days": 7}
    assert tuned.config == dataclasses.replace(BaselineConfig(), recent_days=7)
    assert tuned.scores == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert tuned.validation["recall@20"] == 1.0 and tuned.cases == 3


def test_the_choice_follows_validation_even_when_it_is_worst_on_test() -> None:
    """tune() has no way to see the test window: its signature takes the validation cases only, and the setting
    it picks is the best on validation although a constructed test window makes it the worst there."""
    assert not [p for p in inspect.signature(tuning.tune).parameters if "test" in p]
    train = recent_world()
    counts = counts_of(train, RECENT_MOVIES)
    val = make_cases([[], []], [[31, 32], [33]])
    test = make_cases([[], []], [[61, 62], [63, 64]])  # popular in the last quarter: every window but 7 days
    tuned = tuning.tune("recent_popularity", train, val, RECENT_MOVIES, T_VAL, counts, BaselineConfig())
    configs = [dataclasses.replace(BaselineConfig(), **point) for point in tuned.grid]
    models = [registry.fit("recent_popularity", train, RECENT_MOVIES, T_VAL, config) for config in configs]
    test_scores = [evaluate(model, test, RECENT_MOVIES, counts).means()["recall@20"] for model in models]
    assert tuned.chosen == {"recent_days": 7}
    assert test_scores[0] == min(test_scores) < max(test_scores)
    chosen_on_test = evaluate(tuned.recommender, test, RECENT_MOVIES, counts).means()["recall@20"]
    assert chosen_on_test == test_scores[0]


def test_validation_data_never_reads_the_test_window() -> None:
    class Split:
        train = recent_world()
        val = make_cases([[]], [[31]])
        t_val = T_VAL

        @property
        def test(self) -> Cases:
            raise AssertionError("tuning read the test window")

    no_content = np.zeros(RECENT_MOVIES + 1)
    genres = np.zeros((RECENT_MOVIES + 1, len(GENRES)))
    titles = [""] * (RECENT_MOVIES + 1)
    catalog = types.SimpleNamespace(num_movies=RECENT_MOVIES, genres=genres, years=no_content, clean_titles=titles)
    prepared = types.SimpleNamespace(split=Split(), catalog=catalog, train_counts=counts_of(Split.train, RECENT_MOVIES))
    data = tuning.ValidationData.from_prepared(prepared)
    tuned = tuning.tune_all(["popularity", "recent_popularity"], data, BaselineConfig())
    assert tuned["recent_popularity"].chosen == {"recent_days": 7}
    assert tuned["popularity"].grid == [{}] and tuned["popularity"].chosen == {}


def test_ties_go_to_the_first_grid_point() -> None:
    train = recent_world()
    val = make_cases([[]], [[31]])  # 90, 180 and 365 days rank alike (nothing rated 90-365 days ago)
    points = [{"recent_days": 365}, {"recent_days": 90}, {"recent_days": 180}]
    tuned = tune_recent(train, val, metric="ndcg@100", points=points)
    assert len(set(tuned.scores)) == 1
    assert tuned.chosen == {"recent_days": 365} and tuned.metric == "ndcg@100"


# Item-kNN: 8 anchor movies with disjoint raters (20 users each). Each anchor has a partner rated by exactly
# its raters (cosine 1), 20 own movies rated by 12 of them (cosine 0.77) and shares 25 "junk" movies, each
# rated by 10 of every anchor's raters (cosine 0.25). A case's history is 6 anchors, its targets their
# partners. With 20 neighbours an anchor keeps its partner and own movies only: partners rank first. With 50
# or more it also keeps the junk, which collects 6 x 0.25 = 1.5 from the history and buries the partners.
def knn_world(rng: np.random.Generator) -> tuple[Interactions, int, Cases]:
    anchors, partners = np.arange(1, 9), np.arange(9, 17)
    own = 17 + np.arange(8 * 20).reshape(8, 20)
    junk = 17 + 8 * 20 + np.arange(25)
    pairs = []
    for a in range(8):
        raters = 1 + 20 * a + np.arange(20)
        pairs += [(u, m, 1) for u in raters for m in (anchors[a], partners[a])]
        pairs += [(u, m, 1) for m in own[a] for u in rng.choice(raters, 12, replace=False)]
        pairs += [(u, m, 1) for m in junk for u in rng.choice(raters, 10, replace=False)]
    histories = [np.sort(rng.choice(8, 6, replace=False)) for _ in range(12)]
    cases = make_cases([list(anchors[h]) for h in histories], [list(partners[h]) for h in histories])
    return ratings(pairs), int(junk[-1]), cases


def test_item_knn_picks_the_neighbour_count_that_leaves_out_the_junk() -> None:
    train, num_movies, val = knn_world(np.random.default_rng(0))
    tuned = tuning.tune("item_knn", train, val, num_movies, T_VAL, counts_of(train, num_movies), BaselineConfig())
    assert [p["knn_neighbors"] for p in tuned.grid] == list(tuning.KNN_NEIGHBORS)
    assert tuned.chosen == {"knn_neighbors": 20}
    assert tuned.scores == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_truncated_neighbours_keep_what_a_refit_keeps() -> None:
    rng = np.random.default_rng(3)
    dense = rng.random((80, 41)) < 0.25
    dense[:, 0] = False
    users, movies = np.nonzero(dense)
    train = ratings(list(zip(users + 1, movies, np.ones(len(movies), int), strict=True)))
    matrix = common.binary_matrix(train, 41)
    full = neighbors.cosine_neighbours(matrix, 30)
    ranked = tuning.rank_neighbours(full)
    for k in (1, 3, 10, 30):
        cut = tuning.truncate_neighbours(ranked, full.shape, k).toarray()
        refit = neighbors.cosine_neighbours(matrix, k).toarray()
        for row in range(41):
            np.testing.assert_allclose(np.sort(cut[row][cut[row] > 0]), np.sort(refit[row][refit[row] > 0]))
            kept = np.flatnonzero(cut[row])
            dropped = np.setdiff1d(np.flatnonzero(full[row].toarray()), kept)
            if len(kept) and len(dropped):
                assert cut[row, kept].min() >= full[row, dropped].toarray().max()
    models = list(tuning.knn_path(train, 40, [30, 5]))
    np.testing.assert_allclose(models[0].similarity.toarray(), full.toarray())
    np.testing.assert_allclose(
        models[1].similarity.toarray(), tuning.truncate_neighbours(ranked, full.shape, 5).toarray()
    )


def ease_world() -> tuple[Interactions, int]:
    rng = np.random.default_rng(1)
    dense = rng.random((120, 31)) < 0.3
    dense[:, 0] = False
    dense[:, 30] = False
    dense[:2, 30] = True  # the least rated movie, left out by max_items below
    users, movies = np.nonzero(dense)
    return ratings(list(zip(users + 1, movies, np.ones(len(movies), int), strict=True))), 30


def queries(rows: list[list[int]]) -> Queries:
    cases = make_cases(rows, [[1]] * len(rows))
    return Queries(cases.history, cases.query_times)


def test_ease_fast_path_equals_linear_ease_for_each_lambda() -> None:
    train, num_movies = ease_world()
    lambdas = [0.5, 10.0, 300.0, 1e4]
    batch = queries([[1, 5, 9], [2], [30, 3], [], [29, 28, 27, 26]])
    for lam, fast in zip(lambdas, tuning.ease_path(train, num_movies, lambdas, 28, 1.0), strict=True):
        slow = linear.ease(train, num_movies, lam, 28, 1.0)
        np.testing.assert_array_equal(fast.items, slow.items)
        assert len(fast.items) == 28 and 30 not in fast.items
        np.testing.assert_allclose(fast.scores(batch), slow.scores(batch), rtol=1e-5, atol=1e-6)


def test_ease_tuning_scores_what_evaluating_each_lambda_scores() -> None:
    train, num_movies = ease_world()
    rng = np.random.default_rng(2)
    histories = [list(rng.choice(np.arange(1, 30), 6, replace=False)) for _ in range(40)]
    val = make_cases([h[:3] for h in histories], [h[3:] for h in histories])
    counts = counts_of(train, num_movies)
    base = BaselineConfig(ease_max_items=28)
    tuned = tuning.tune("ease", train, val, num_movies, T_VAL, counts, base, metric="ndcg@10")
    expected = [
        evaluate(linear.ease(train, num_movies, lam, 28, base.ease_memory_gb), val, num_movies, counts).means()[
            "ndcg@10"
        ]
        for lam in tuning.EASE_LAMBDAS
    ]
    np.testing.assert_allclose(tuned.scores, expected, rtol=1e-6)
    assert tuned.chosen == {"ease_lambda": tuning.EASE_LAMBDAS[int(np.argmax(expected))]}
    assert tuned.config.ease_lambda == tuned.chosen["ease_lambda"] and tuned.config.ease_max_items == 28


def test_ease_tuning_keeps_the_memory_guard() -> None:
    train, num_movies = ease_world()
    val = make_cases([[1]], [[2]])
    base = BaselineConfig(ease_memory_gb=1e-9)
    with pytest.raises(ValueError, match="--ease_memory_gb") as fast:
        tuning.tune("ease", train, val, num_movies, T_VAL, counts_of(train, num_movies), base)
    with pytest.raises(ValueError, match="--ease_memory_gb") as slow:
        linear.ease(train, num_movies, 1.0, base.ease_max_items, base.ease_memory_gb)
    assert str(fast.value) == str(slow.value)


def test_subsample_is_a_deterministic_subset_of_whole_cases() -> None:
    histories = [[i, i + 1][: i % 3] for i in range(1, 21)]
    targets = [[30 + i, 60 + i][: 1 + i % 2] for i in range(1, 21)]
    cases = make_cases(histories, targets)
    assert tuning.subsample(cases, None) is cases and tuning.subsample(cases, 50) is cases
    one, again, other = (tuning.subsample(cases, 7, seed) for seed in (0, 0, 1))
    assert len(one) == 7
    np.testing.assert_array_equal(one.user_ids, again.user_ids)
    assert not np.array_equal(one.user_ids, other.user_ids)
    for c, user in enumerate(one.user_ids):
        original = int(np.flatnonzero(cases.user_ids == user)[0])
        np.testing.assert_array_equal(one.targets(c), cases.targets(original))
        np.testing.assert_array_equal(one.history.row(c)[0], cases.history.row(original)[0])
    with pytest.raises(ValueError):
        tuning.subsample(cases, 0)


def test_unknown_names_metrics_and_grid_keys_are_refused() -> None:
    train = recent_world()
    args = (train, make_cases([[]], [[31]]), RECENT_MOVIES, T_VAL, counts_of(train, RECENT_MOVIES), BaselineConfig())
    with pytest.raises(Exception, match="unknown baseline"):
        tuning.tune("svd", *args)
    with pytest.raises(ValueError, match="unknown metric"):
        tuning.tune("popularity", *args, metric="recall@7")
    with pytest.raises(ValueError, match="not BaselineConfig fields"):
        tuning.tune("recent_popularity", *args, points=[{"days": 7}])


def test_every_baseline_tunes_on_a_synthetic_release_and_writes_json(tiny_release: Path, tmp_path: Path) -> None:
    prepared = prepare(PrepareConfig(data_dir=str(tiny_release), cache_dir=str(tmp_path)), progress=False)
    data = tuning.ValidationData.from_prepared(prepared)
    tuned = tuning.tune_all(registry.NAMES, data, BaselineConfig(), max_cases=20)
    assert list(tuned) == list(registry.NAMES)
    for name, result in tuned.items():
        record = json.loads(json.dumps(result.to_json()))
        assert record["grid"] == tuning.grid(name) and len(record["scores"]) == len(record["grid"])
        assert record["chosen"] in record["grid"]
        assert record["scores"][record["grid"].index(record["chosen"])] == max(record["scores"])
        assert record["cases"] == min(20, len(prepared.split.val)) and "recommender" not in record
        assert record["validation"]["recall@20"] == max(record["scores"])
    assert len(tuned["ials"].grid) == 24
    config = tuning.tuned_config(tuned, BaselineConfig())
    assert config.ease_lambda == tuned["ease"].chosen["ease_lambda"]
    assert config.ials_factors == tuned["ials"].chosen["ials_factors"]
