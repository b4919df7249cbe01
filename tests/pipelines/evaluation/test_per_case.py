"""per_case.npz: a round trip of nested method / window / metric arrays, and a clear error on a bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.data.errors import DataError
from pipelines.evaluation import per_case


def test_round_trip_keeps_every_array_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    values = {
        "two-tower": {"validation": {"recall@20": np.array([0.0, 0.5, 1.0])}, "test": {"recall@20": np.ones(2)}},
        "ease": {"validation": {"recall@20": np.array([0.25, 0.5, 0.75]), "ndcg@100": np.zeros(3)}},
    }
    per_case.save(tmp_path / per_case.FILE, values)
    loaded = per_case.load(tmp_path / per_case.FILE)
    assert {m: {w: set(v) for w, v in ws.items()} for m, ws in loaded.items()} == {
        "two-tower": {"validation": {"recall@20"}, "test": {"recall@20"}},
        "ease": {"validation": {"recall@20", "ndcg@100"}},
    }
    np.testing.assert_array_equal(loaded["ease"]["validation"]["recall@20"], [0.25, 0.5, 0.75])
    np.testing.assert_array_equal(loaded["two-tower"]["test"]["recall@20"], [1.0, 1.0])
    assert [p.name for p in tmp_path.iterdir()] == [per_case.FILE]


def test_missing_or_corrupt_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.npz: cannot read per-case metrics"):
        per_case.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(DataError, match=r"bad\.npz: cannot read per-case metrics"):
        per_case.load(bad)
