"""per_case.npz: every case's metric values, by method and window, for paired comparisons.

`pipelines.train` writes one into the model folder (the model on both windows), `pipelines.evaluate` one
into its output folder (every method it scored); `benchmarks.real_data` pairs the two case by case
(metrics.paired_ratio). The cases are in the window's case order, which the split fixes, so files from
the same prepared data line up. Keys are "method/window/metric".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.data import atomic
from pipelines.data.errors import DataError

FILE = "per_case.npz"

PerCase = dict[str, dict[str, dict[str, np.ndarray]]]  # method -> window -> metric -> [C]


def save(target: Path, values: PerCase) -> None:
    """Writes `values` to target (a temporary file renamed into place)."""
    arrays = {
        f"{method}/{window}/{metric}": np.asarray(array, np.float64)
        for method, windows in values.items()
        for window, by_metric in windows.items()
        for metric, array in by_metric.items()
    }
    with atomic.staged_file(Path(target)) as tmp, tmp.open("wb") as f:
        np.savez_compressed(f, **arrays)


def load(path: Path) -> PerCase:
    """The inverse of `save`; a missing or unreadable file is a DataError naming it."""
    path = Path(path)
    try:
        with np.load(path) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read per-case metrics: {error}", path=path) from error
    out: PerCase = {}
    for key, array in arrays.items():
        method, window, metric = key.rsplit("/", 2)
        out.setdefault(method, {}).setdefault(window, {})[metric] = array
    return out
