"""The evaluation protocol's split (docs/protocol.md): global time windows with fold-in.

1. Order ratings by (timestamp, movieId); T_test is the timestamp at position floor(n * (1 - test_frac)),
   T_val the one at floor(n * (1 - test_frac - val_frac)).
2. Training = timestamp < T_val; validation window = [T_val, T_test); test window = timestamp >= T_test.
3. Per user with ratings in a window (ordered by (timestamp, movieId)): the first floor(m / 2) of its m
   window ratings join the query history, together with all its ratings before the window; the rest are
   targets. Relevant targets have rating >= 4.0; a user without one is skipped; an empty history marks a
   cold user. The query time is the first target's timestamp.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from pipelines.data.errors import DataError

RELEVANT_RATING = 4.0


@dataclasses.dataclass(frozen=True)
class Interactions:
    """Ratings grouped into rows (CSR), each row in (timestamp, movieId) order.

    Attributes:
      user_ids: [R] MovieLens userId of each row.
      offsets: [R + 1] int64; row r is positions offsets[r]:offsets[r + 1].
      movies: [N] int32 dense movie index.  ratings: [N] float32.  timestamps: [N] int64.
    """

    user_ids: np.ndarray
    offsets: np.ndarray
    movies: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.user_ids)

    def row(self, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(movies, ratings, timestamps) of row r."""
        s = slice(self.offsets[r], self.offsets[r + 1])
        return self.movies[s], self.ratings[s], self.timestamps[s]


@dataclasses.dataclass(frozen=True)
class Cases:
    """Evaluation cases of one window, one per user with at least one relevant target.

    Attributes:
      history: query history per case (user_ids are the cases' users); may be empty (cold user).
      query_times: [C] int64 timestamp of each case's first target.
      target_offsets: [C + 1] int64; relevant targets of case c are target_movies[o[c]:o[c + 1]].
      target_movies: [M] int32 dense movie index, in (timestamp, movieId) order.
    """

    history: Interactions
    query_times: np.ndarray
    target_offsets: np.ndarray
    target_movies: np.ndarray

    def __len__(self) -> int:
        return len(self.query_times)

    @property
    def user_ids(self) -> np.ndarray:
        return self.history.user_ids

    @property
    def cold_users(self) -> np.ndarray:
        """[C] bool: the case's query history is empty."""
        return self.history.lengths == 0

    def targets(self, c: int) -> np.ndarray:
        return self.target_movies[self.target_offsets[c] : self.target_offsets[c + 1]]


@dataclasses.dataclass(frozen=True)
class Split:
    t_val: int
    t_test: int
    train: Interactions
    val: Cases
    test: Cases


def cut_times(timestamps: np.ndarray, val_frac: float, test_frac: float) -> tuple[int, int]:
    """(T_val, T_test) as the protocol defines them; only the k-th timestamps matter, so no full sort."""
    n = len(timestamps)
    if not (0 < test_frac < 1 and 0 < val_frac < 1 and test_frac + val_frac < 1):
        raise DataError(f"need 0 < val_frac, test_frac and val_frac + test_frac < 1; got {val_frac}, {test_frac}")
    test_pos = math.floor(n * (1 - test_frac))
    val_pos = math.floor(n * (1 - test_frac - val_frac))
    if not 0 <= val_pos <= test_pos < n:
        raise DataError(f"{n} ratings are too few to split with val_frac={val_frac}, test_frac={test_frac}")
    kth = np.partition(timestamps, [val_pos, test_pos])
    return int(kth[val_pos]), int(kth[test_pos])


def ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, e) for each pair, vectorised."""
    lengths = (ends - starts).astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    keep = lengths > 0
    starts, lengths = starts[keep].astype(np.int64), lengths[keep]
    step = np.ones(total, np.int64)
    heads = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    step[heads[0]] = starts[0]
    step[heads[1:]] = starts[1:] - (starts[:-1] + lengths[:-1] - 1)
    return np.cumsum(step)


def group_by_user(
    user_ids: np.ndarray, movies: np.ndarray, ratings: np.ndarray, timestamps: np.ndarray
) -> Interactions:
    """All ratings as one CSR row per user (users ascending), each row in (timestamp, movieId) order."""
    users, user_index = _dense(user_ids)
    span = int(timestamps.max() - timestamps.min()) if len(timestamps) else 0
    shift = max(span.bit_length(), 1)
    key = (user_index.astype(np.int64) << shift) | (timestamps - (timestamps.min() if len(timestamps) else 0))
    if len(users).bit_length() + shift <= 63:
        order = np.argsort(key, kind="stable")
        same = key[order[1:]] == key[order[:-1]]
        # Ties (same user and second) must be ordered by movieId; files sorted by (userId, movieId)
        # already are, and a stable sort keeps them so. Otherwise break ties explicitly.
        if np.any(same & (movies[order[1:]] < movies[order[:-1]])):
            order = np.lexsort((movies, key))
    else:
        order = np.lexsort((movies, timestamps, user_index))
    counts = np.bincount(user_index, minlength=len(users))
    offsets = np.zeros(len(users) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Interactions(users, offsets, movies[order], ratings[order], timestamps[order])


def _dense(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique ids, dense index of each id) without a full sort when ids are compact."""
    if len(ids) and ids.max() < 8 * len(ids) + 1_000_000:
        present = np.zeros(int(ids.max()) + 1, bool)
        present[ids] = True
        unique = np.flatnonzero(present)
        lookup = np.cumsum(present) - 1
        return unique, lookup[ids].astype(np.int32)
    unique, inverse = np.unique(ids, return_inverse=True)
    return unique, inverse.astype(np.int32)


def subset_rows(data: Interactions, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Interactions:
    """Rows `rows` of `data`, each cut to positions [starts, ends) (absolute positions)."""
    positions = ranges(starts, ends)
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(ends - starts, out=offsets[1:])
    return Interactions(
        data.user_ids[rows],
        offsets,
        data.movies[positions],
        data.ratings[positions],
        data.timestamps[positions],
    )


def window_cases(data: Interactions, start: int, end: int | None) -> Cases:
    """Cases of the window [start, end) from all ratings grouped by user (`end=None`: no upper bound).

    (userId, movieId) pairs are unique (the loader rejects duplicates), so a target is never already in
    its own query history.
    """
    user_of = np.repeat(np.arange(len(data), dtype=np.int32), data.lengths)
    ts = data.timestamps
    before = np.bincount(user_of[ts < start], minlength=len(data))
    in_window = ts >= start if end is None else (ts >= start) & (ts < end)
    m = np.bincount(user_of[in_window], minlength=len(data))
    first_window = data.offsets[:-1] + before
    first_target, target_end = first_window + m // 2, first_window + m
    targets = ranges(first_target, target_end)
    relevant = targets[data.ratings[targets] >= RELEVANT_RATING]
    relevant_count = np.bincount(user_of[relevant], minlength=len(data))
    rows = np.flatnonzero(relevant_count > 0)
    target_offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(relevant_count[rows], out=target_offsets[1:])
    return Cases(
        history=subset_rows(data, rows, data.offsets[rows], first_target[rows]),
        query_times=ts[first_target[rows]],
        target_offsets=target_offsets,
        target_movies=data.movies[relevant],
    )


def training_rows(data: Interactions, before: int) -> Interactions:
    """Each user's ratings with timestamp < `before` (users without one are left out)."""
    user_of = np.repeat(np.arange(len(data), dtype=np.int32), data.lengths)
    counts = np.bincount(user_of[data.timestamps < before], minlength=len(data))
    rows = np.flatnonzero(counts)
    return subset_rows(data, rows, data.offsets[rows], data.offsets[rows] + counts[rows])


def temporal_split(data: Interactions, *, val_frac: float, test_frac: float) -> Split:
    """The protocol's split of all ratings (grouped by user) into training ratings and two case windows."""
    t_val, t_test = cut_times(data.timestamps, val_frac, test_frac)
    return Split(
        t_val=t_val,
        t_test=t_test,
        train=training_rows(data, t_val),
        val=window_cases(data, t_val, t_test),
        test=window_cases(data, t_test, None),
    )
