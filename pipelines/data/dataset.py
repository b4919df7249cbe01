"""The prepared data set: catalog features, tags, the protocol's split, and their on-disk cache.

The cache is a folder of .npy files (memory-mapped on load) plus one JSON file of strings and figures,
written under a temporary name and renamed, keyed by a fingerprint of the input files and the split
parameters, so a second run with the same inputs loads in seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

import numpy as np

from pipelines.data import atomic
from pipelines.data.features import Catalog, MovieTags
from pipelines.data.split import Cases, Interactions, Split

CACHE_VERSION = 1  # bump when the prepared layout or any of its computations change


@dataclasses.dataclass(frozen=True)
class Prepared:
    catalog: Catalog
    tags: MovieTags
    split: Split
    figures: dict

    @property
    def train_counts(self) -> np.ndarray:
        """[n + 1] training ratings per movie index (popularity seen before T_val)."""
        return np.bincount(self.split.train.movies, minlength=self.catalog.num_movies + 1)

    @functools.cached_property
    def first_rated(self) -> np.ndarray:
        """[n + 1] int64 time of each movie's first training rating (T_val for movies not rated before it)."""
        train = self.split.train
        first = np.full(self.catalog.num_movies + 1, self.split.t_val, np.int64)
        np.minimum.at(first, train.movies, train.timestamps)
        return first


def fingerprint(files: list[Path], params: dict) -> str:
    """Hash of the inputs' names, sizes, modification times and first/last MiB, plus the parameters."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(json.dumps({"version": CACHE_VERSION, **params}, sort_keys=True).encode())
    for path in sorted(files):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        with path.open("rb") as f:
            digest.update(f.read(1 << 20))
            f.seek(max(stat.st_size - (1 << 20), 0))
            digest.update(f.read(1 << 20))
    return digest.hexdigest()


_STRING_FIELDS = {"titles", "clean_titles", "genome_tags", "imdb_ids", "vocabulary"}


def _flatten(prefix: str, obj: object, arrays: dict, strings: dict) -> None:
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        key = f"{prefix}.{field.name}"
        if dataclasses.is_dataclass(value):
            _flatten(key, value, arrays, strings)
        elif field.name in _STRING_FIELDS:
            strings[key] = value
        elif isinstance(value, np.ndarray):
            arrays[key] = value
        else:
            strings[key] = value


def save(prepared: Prepared, folder: Path) -> None:
    """Writes `prepared` to `folder` atomically (a temporary sibling renamed into place).

    Processes preparing the same data at once (the workers of a multi-worker run) each write their own
    temporary folder; the first rename wins and the others discard theirs, so a folder another process
    may be reading is never deleted. A folder without strings.json (written last) is an incomplete
    leftover and is replaced.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    strings: dict[str, object] = {}
    for name in ("catalog", "tags", "split"):
        _flatten(name, getattr(prepared, name), arrays, strings)
    strings["figures"] = prepared.figures
    with atomic.staged_dir(folder, complete=_complete) as tmp:
        for key, array in arrays.items():
            np.save(tmp / f"{key}.npy", np.ascontiguousarray(array))
        (tmp / "strings.json").write_text(json.dumps(strings, ensure_ascii=False))


def _complete(folder: Path) -> bool:
    return (folder / "strings.json").exists()


def load(folder: Path) -> Prepared:
    """Loads a folder written by `save`; arrays are memory-mapped read-only."""
    strings = json.loads((folder / "strings.json").read_text())

    def build(cls: type, prefix: str):
        values = {}
        for field in dataclasses.fields(cls):
            key = f"{prefix}.{field.name}"
            if field.name in _NESTED:
                values[field.name] = build(_NESTED[field.name], key)
            elif key in strings:
                values[field.name] = strings[key]
            else:
                values[field.name] = np.load(folder / f"{key}.npy", mmap_mode="r")
        return cls(**values)

    return Prepared(
        catalog=build(Catalog, "catalog"),
        tags=build(MovieTags, "tags"),
        split=build(Split, "split"),
        figures=strings["figures"],
    )


_NESTED = {"train": Interactions, "val": Cases, "test": Cases, "history": Interactions}
