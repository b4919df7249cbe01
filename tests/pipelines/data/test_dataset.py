"""The prepared-data cache: exact round trip, fingerprint sensitivity, atomic writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from pipelines.data import dataset
from pipelines.data.prepared import PrepareConfig, build


def assert_same(a: object, b: object, where: str = "") -> None:
    if dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            assert_same(getattr(a, field.name), getattr(b, field.name), f"{where}.{field.name}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


def test_save_load_round_trip(tiny_release: Path, tmp_path: Path) -> None:
    prepared = build(tiny_release, PrepareConfig())
    dataset.save(prepared, tmp_path / "cache")
    loaded = dataset.load(tmp_path / "cache")
    assert_same(prepared, loaded)
    np.testing.assert_array_equal(prepared.train_counts, loaded.train_counts)
    assert not list(tmp_path.glob(".cache.*")), "temporary folder left behind"


def test_fingerprint_changes_with_content_and_parameters(tiny_copy: Path) -> None:
    files = sorted(tiny_copy.glob("*.csv"))
    base = dataset.fingerprint(files, {"val_frac": 0.1})
    assert dataset.fingerprint(files, {"val_frac": 0.1}) == base
    assert dataset.fingerprint(files, {"val_frac": 0.2}) != base
    ratings = tiny_copy / "ratings.csv"
    ratings.write_bytes(ratings.read_bytes() + b"1,1,4.0,1\n")
    assert dataset.fingerprint(files, {"val_frac": 0.1}) != base


def test_failed_save_leaves_nothing(tiny_release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prepared = build(tiny_release, PrepareConfig())

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(dataset.json, "dumps", fail)
    with pytest.raises(OSError, match="disk full"):
        dataset.save(prepared, tmp_path / "cache")
    assert list(tmp_path.iterdir()) == []


def test_a_second_writer_keeps_the_first_writers_folder(tiny_release: Path, tmp_path: Path) -> None:
    # Two processes preparing the same data at once: the later rename must not delete what the first
    # wrote (the first may already be reading it, memory-mapped).
    prepared = build(tiny_release, PrepareConfig())
    dataset.save(prepared, tmp_path / "cache")
    written = {p.name: p.stat().st_ino for p in (tmp_path / "cache").iterdir()}
    dataset.save(prepared, tmp_path / "cache")
    assert {p.name: p.stat().st_ino for p in (tmp_path / "cache").iterdir()} == written  # the same files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]
    (tmp_path / "cache" / "strings.json").unlink()  # an incomplete leftover is replaced
    dataset.save(prepared, tmp_path / "cache")
    assert_same(prepared, dataset.load(tmp_path / "cache"))
