"""Typed, validated reads of MovieLens CSV files.

Fast path: pyarrow's multi-threaded CSV reader with explicit column types. When it rejects a file (a
non-numeric id, a wrong field count, bytes that are not UTF-8) a slow pure-Python scan finds the first
offending line, so every error names the file, the line and the value. Value checks (ranges, grids) run
vectorised on the typed columns.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from pipelines.data.errors import DataError

# A field validator returns an error message, or None when the raw text is acceptable.
Validator = Callable[[str], "str | None"]


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    validate: Validator
    nullable: bool = False


def _int_text(text: str) -> str | None:
    stripped = text.strip()
    if stripped.startswith("-"):
        return f"{text!r} is negative"
    return None if stripped.isdigit() else f"{text!r} is not an integer"


def _float_text(text: str) -> str | None:
    try:
        float(text)
    except ValueError:
        return f"{text!r} is not a number"
    return None


def _any_text(text: str) -> str | None:
    return None


def _optional_int_text(text: str) -> str | None:
    return None if text.strip() == "" else _int_text(text)


INT = _int_text
FLOAT = _float_text
TEXT = _any_text
OPTIONAL_INT = _optional_int_text


def check_layout(path: Path, columns: Sequence[Column], *, allow_no_rows: bool = False) -> None:
    """Checks existence, emptiness, the header and the last line end, before any parsing."""
    if not path.is_file():
        raise DataError("missing file", path=path)
    size = path.stat().st_size
    if size == 0:
        raise DataError("empty file (no header)", path=path)
    with path.open("rb") as f:
        first = f.readline()
        f.seek(-1, 2)
        last_byte = f.read(1)
    header = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    expected = ",".join(c.name for c in columns)
    if header != expected:
        raise DataError(f"wrong header {header!r}, expected {expected!r}", path=path, line=1)
    if last_byte != b"\n":
        raise DataError("truncated last line (the file does not end with a newline)", path=path)
    if not allow_no_rows and size <= len(first):
        raise DataError("no data rows after the header", path=path)


def read_csv(path: Path, columns: Sequence[Column], *, allow_no_rows: bool = False) -> pa.Table:
    """Reads one MovieLens CSV into a typed Arrow table, or raises DataError naming the bad line."""
    check_layout(path, columns, allow_no_rows=allow_no_rows)
    names = [c.name for c in columns]
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={c.name: c.type for c in columns},
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        locate_bad_line(path, columns)
        raise DataError(f"unreadable CSV: {error}", path=path) from None
    for c in columns:
        if not c.nullable and table.column(c.name).null_count:
            is_null = table.column(c.name).is_null().to_numpy(zero_copy_only=False)
            fail_at(path, is_null, lambda row, name=c.name: f"{name} is empty")
    return table


def locate_bad_line(path: Path, columns: Sequence[Column]) -> None:
    """Scans the file line by line and raises DataError at the first line that breaks the format.

    Only runs after the fast reader has failed, so its speed does not matter.
    """
    with path.open("rb") as f:
        f.readline()
        for number, raw in enumerate(f, start=2):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                bad = raw[error.start : error.start + 4]
                raise DataError(f"bytes that are not UTF-8: {bad!r}", path=path, line=number) from None
            fields = next(csv.reader([text.rstrip("\r\n")]), [])
            if len(fields) != len(columns):
                raise DataError(
                    f"expected {len(columns)} fields, got {len(fields)}: {text.rstrip()!r}",
                    path=path,
                    line=number,
                )
            for column, value in zip(columns, fields, strict=True):
                if value == "" and not column.nullable and column.validate is not TEXT:
                    raise DataError(f"{column.name} is empty", path=path, line=number)
                message = column.validate(value)
                if message:
                    raise DataError(f"{column.name} {message}", path=path, line=number)


def column(table: pa.Table, name: str, dtype: np.dtype | type, fill: int | float | None = None) -> np.ndarray:
    """A table column as a contiguous NumPy array (nulls replaced by `fill` when given)."""
    array = table.column(name)
    if fill is not None:
        array = array.fill_null(fill)
    return np.ascontiguousarray(array.to_numpy(), dtype=dtype)


def fail_at(path: Path, mask: np.ndarray, message: Callable[[int], str]) -> None:
    """Raises DataError at the first row where `mask` is true (rows count from line 2)."""
    bad = np.flatnonzero(mask)
    if bad.size:
        row = int(bad[0])
        raise DataError(f"{message(row)} ({bad.size} such rows)", path=path, line=row + 2)
