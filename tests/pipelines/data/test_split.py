"""The protocol's split, checked by hand on a small example and against a plain reference on synthetic data."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from pipelines.data.errors import DataError
from pipelines.data.features import build_catalog
from pipelines.data.load import load_release
from pipelines.data.split import cut_times, group_by_user, ranges, temporal_split


def test_ranges_concatenates_aranges() -> None:
    np.testing.assert_array_equal(ranges(np.array([3, 0, 7, 5]), np.array([5, 0, 9, 6])), [3, 4, 7, 8, 5])
    assert len(ranges(np.array([2]), np.array([2]))) == 0


def test_cut_times_follow_the_protocol_positions() -> None:
    timestamps = np.array([50, 10, 40, 20, 30, 90, 80, 70, 60, 100])
    # n = 10: T_test at position floor(10 * 0.8) = 8 -> 90; T_val at floor(10 * 0.6) = 6 -> 70.
    assert cut_times(timestamps, val_frac=0.2, test_frac=0.2) == (70, 90)
    with pytest.raises(DataError, match="val_frac"):
        cut_times(timestamps, val_frac=0.6, test_frac=0.5)
    with pytest.raises(DataError, match="too few"):
        cut_times(np.array([], np.int64), val_frac=0.1, test_frac=0.1)


def test_group_by_user_orders_by_time_then_movie() -> None:
    data = group_by_user(
        np.array([7, 3, 7, 7, 3]), np.array([9, 1, 2, 5, 4]), np.arange(5, dtype=np.float32),
        np.array([30, 10, 20, 20, 5]),
    )  # fmt: skip
    np.testing.assert_array_equal(data.user_ids, [3, 7])
    np.testing.assert_array_equal(data.offsets, [0, 2, 5])
    np.testing.assert_array_equal(data.movies, [4, 1, 2, 5, 9])
    np.testing.assert_array_equal(data.timestamps, [5, 10, 20, 20, 30])


def test_hand_computed_windows() -> None:
    # Ratings as (user, movie, rating, timestamp); 20 ratings, test_frac 0.2, val_frac 0.4:
    # T_test = timestamp at position floor(20 * 0.8) = 16 -> 200; T_val at floor(20 * 0.4) = 8 -> 110.
    rows = [
        # user 1: history before the validation window, then 4 window ratings (2 folded in, 2 targets).
        (1, 1, 5.0, 1), (1, 2, 4.0, 2), (1, 3, 4.0, 110), (1, 4, 2.0, 111), (1, 5, 4.5, 112), (1, 6, 3.0, 113),
        # user 2: cold in validation, 1 window rating -> 0 folded, 1 target (relevant).
        (2, 7, 4.0, 120),
        # user 3: 3 window ratings, targets (m - floor(3/2) = 2) not relevant -> skipped.
        (3, 1, 4.0, 114), (3, 2, 3.0, 115), (3, 3, 1.0, 116),
        # filler training ratings
        (4, 1, 3.0, 3), (4, 2, 3.0, 4), (4, 3, 3.0, 5), (4, 4, 3.0, 6), (4, 5, 3.0, 7), (4, 6, 3.0, 8),
        # test window (>= 200): user 1 again, 4 test ratings.
        (1, 7, 4.0, 200), (1, 8, 5.0, 201), (1, 9, 1.0, 202), (1, 10, 4.0, 203),
    ]  # fmt: skip
    users, movies, ratings, times = (np.array(c) for c in zip(*rows, strict=True))
    data = group_by_user(users, movies.astype(np.int32), ratings.astype(np.float32), times)
    split = temporal_split(data, val_frac=0.4, test_frac=0.2)
    assert (split.t_val, split.t_test) == (110, 200)
    assert len(split.train.movies) == 8 and split.train.timestamps.max() < 110
    val = split.val
    np.testing.assert_array_equal(val.user_ids, [1, 2])
    np.testing.assert_array_equal(val.history.row(0)[0], [1, 2, 3, 4])  # 2 before + 2 folded in
    np.testing.assert_array_equal(val.targets(0), [5])  # 6 has rating 3 -> not relevant
    assert val.query_times.tolist() == [112, 120]
    np.testing.assert_array_equal(val.cold_users, [False, True])
    test = split.test
    np.testing.assert_array_equal(test.user_ids, [1])
    np.testing.assert_array_equal(test.history.row(0)[0], [1, 2, 3, 4, 5, 6, 7, 8])
    np.testing.assert_array_equal(test.targets(0), [10])
    assert test.query_times.tolist() == [202]


def reference_cases(users, movies, ratings, times, start, end):
    """The protocol written out plainly, user by user."""
    per_user = defaultdict(list)
    for u, m, r, t in zip(users, movies, ratings, times, strict=True):
        per_user[u].append((t, m, r))
    cases = {}
    for u, items in per_user.items():
        items.sort()
        window = [x for x in items if start <= x[0] and (end is None or x[0] < end)]
        if not window:
            continue
        before = [x for x in items if x[0] < start]
        fold = len(window) // 2
        history = before + window[:fold]
        history_movies = {m for _, m, _ in history}
        targets = window[fold:]
        relevant = [m for _, m, r in targets if r >= 4.0 and m not in history_movies]
        if relevant:
            cases[u] = ([m for _, m, _ in history], relevant, targets[0][0])
    return cases


def test_split_matches_plain_reference_on_synthetic_data(tiny_release: Path) -> None:
    raw = load_release(tiny_release)
    catalog = build_catalog(raw)
    movies = catalog.index_of(raw.rating_movie_ids)
    data = group_by_user(raw.user_ids, movies, raw.ratings, raw.timestamps)
    split = temporal_split(data, val_frac=0.1, test_frac=0.1)
    order = np.lexsort((movies, raw.timestamps))
    n = len(order)
    assert split.t_test == raw.timestamps[order][math.floor(n * (1 - 0.1))]
    assert split.t_val == raw.timestamps[order][math.floor(n * (1 - 0.1 - 0.1))]
    args = (raw.user_ids.tolist(), movies.tolist(), raw.ratings.tolist(), raw.timestamps.tolist())
    for cases, start, end in ((split.val, split.t_val, split.t_test), (split.test, split.t_test, None)):
        expected = reference_cases(*args, start, end)
        assert sorted(expected) == cases.user_ids.tolist()
        for c, user in enumerate(cases.user_ids.tolist()):
            history, relevant, query_time = expected[user]
            assert cases.history.row(c)[0].tolist() == history
            assert cases.targets(c).tolist() == relevant
            assert cases.query_times[c] == query_time


def test_no_rating_at_or_after_t_val_reaches_training(small_release: Path) -> None:
    raw = load_release(small_release)
    movies = build_catalog(raw).index_of(raw.rating_movie_ids)
    split = temporal_split(group_by_user(raw.user_ids, movies, raw.ratings, raw.timestamps),
                           val_frac=0.1, test_frac=0.1)  # fmt: skip
    assert split.train.timestamps.max() < split.t_val
    assert len(split.train.movies) == int((raw.timestamps < split.t_val).sum())
    for cases in (split.val, split.test):
        lengths = cases.history.lengths
        case_of = np.repeat(np.arange(len(cases)), lengths)
        assert np.all(cases.history.timestamps <= cases.query_times[case_of])
