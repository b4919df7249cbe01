"""Typed, validated reads of MovieLens text files: the CSV releases' files and the older layouts'
``::``-, tab- and ``|``-separated ones.

Fast path: pyarrow's multi-threaded CSV reader with explicit column types, for every CSV file and for the
numeric-only files of the other layouts (ratings). When it rejects a file (a non-numeric id, a wrong field
count, bytes that are not UTF-8) a slow pure-Python scan finds the first offending line, so every error
names the file, the line and the value. The older layouts' small text files (movies, tags, u.item) are read
by that scan directly: their titles and tags are never quoted and may hold the separator. Value checks
(ranges, grids) run vectorised on the typed columns.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from pipelines.console import plural
from pipelines.data.errors import DataError

# A field validator returns an error message, or None when the raw text is acceptable.
Validator = Callable[[str], "str | None"]


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    validate: Validator
    nullable: bool = False


@dataclasses.dataclass(frozen=True)
class TextFormat:
    """How a release writes one kind of file.

    Attributes:
      separator: between fields: "," (CSV releases), "::" (ml-1m, ml-10m), tab or "|" (ml-100k).
      header: line 1 names the columns (the CSV releases); the older layouts have no header.
      encoding: utf-8, or latin-1 (ml-1m's movies.dat, ml-100k's u.item).
      quoted: fields may be CSV-quoted (the CSV releases); the older layouts never quote.
      free_text: index of the one field that may hold the separator (a title, a tag), or None.
    """

    separator: str = ","
    header: bool = True
    encoding: str = "utf-8"
    quoted: bool = True
    free_text: int | None = None

    @property
    def first_line(self) -> int:
        """Line number of the first data row."""
        return 2 if self.header else 1


CSV = TextFormat()
# Latin-1 decodes every byte, so what is not Latin-1 text is told by sight: its C1 range (0x80-0x9f) holds
# only control codes, and "Ã" followed by a Latin-1 letter or sign is how UTF-8 writes the letters à..ÿ.
_NOT_LATIN1_TEXT = re.compile(rb"[\x80-\x9f]|\xc3[\xa0-\xbf]")


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
_NUMERIC = (INT, FLOAT)


def check_layout(path: Path, columns: Sequence[Column], fmt: TextFormat = CSV, *, allow_no_rows: bool = False) -> None:
    """Checks existence, emptiness, the header and the last line end, before any parsing."""
    if not path.is_file():
        raise DataError("missing file", path=path)
    size = path.stat().st_size
    if size == 0:
        if allow_no_rows and not fmt.header:
            return
        raise DataError("empty file" + (" (no header)" if fmt.header else ""), path=path)
    with path.open("rb") as f:
        first = f.readline()
        f.seek(-1, 2)
        last_byte = f.read(1)
    if fmt.header:
        header = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
        expected = fmt.separator.join(c.name for c in columns)
        if header != expected:
            raise DataError(f"wrong header {header!r}, expected {expected!r}", path=path, line=1)
    if last_byte != b"\n":
        raise DataError("truncated last line (the file does not end with a newline)", path=path)
    if fmt.header and not allow_no_rows and size <= len(first):
        raise DataError("no data rows after the header", path=path)


def read_table(path: Path, columns: Sequence[Column], fmt: TextFormat = CSV, *,
               allow_no_rows: bool = False) -> pa.Table:  # fmt: skip
    """Reads one release file into a typed Arrow table, or raises DataError naming the bad line."""
    check_layout(path, columns, fmt, allow_no_rows=allow_no_rows)
    if fmt.quoted or all(c.validate in _NUMERIC for c in columns):
        table = _read_fast(path, columns, fmt)
    else:
        table = scan(path, columns, fmt, collect=True)
    for c in columns:
        if not c.nullable and table.column(c.name).null_count:
            is_null = table.column(c.name).is_null().to_numpy(zero_copy_only=False)
            fail_at(path, is_null, lambda row, name=c.name: f"{name} is empty", first_line=fmt.first_line)
    return table


def _read_fast(path: Path, columns: Sequence[Column], fmt: TextFormat) -> pa.Table:
    names = [c.name for c in columns]
    source: Path | pa.BufferReader = path
    delimiter = fmt.separator
    if len(fmt.separator) > 1:  # pyarrow splits on one character: turn "::" into a tab first
        data = path.read_bytes()
        if b"\t" in data:  # a tab would pass for a separator below
            scan(path, columns, fmt)
        source, delimiter = pa.BufferReader(data.replace(fmt.separator.encode(), b"\t")), "\t"
        del data
    try:
        return pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=int(fmt.header), block_size=16 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char='"' if fmt.quoted else False, newlines_in_values=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c.name: c.type for c in columns},
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        scan(path, columns, fmt)
        raise DataError(f"unreadable file: {error}", path=path) from None


def _lines(path: Path, fmt: TextFormat) -> Iterator[tuple[int, str]]:
    """(line number, decoded line without its end) of every non-blank data line."""
    with path.open("rb") as f:
        if fmt.header:
            f.readline()
        for number, raw in enumerate(f, start=fmt.first_line):
            if fmt.encoding == "latin-1":
                bad = _NOT_LATIN1_TEXT.search(raw)
                if bad:
                    found = raw[bad.start() : bad.start() + 4]
                    message = f"bytes that are not Latin-1 text (UTF-8 or another encoding?): {found!r}"
                    raise DataError(message, path=path, line=number)
                text = raw.decode("latin-1")
            else:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    found = raw[error.start : error.start + 4]
                    raise DataError(f"bytes that are not UTF-8: {found!r}", path=path, line=number) from None
            text = text.rstrip("\r\n")
            if text.strip():
                yield number, text


def _split(text: str, count: int, fmt: TextFormat) -> list[str]:
    if fmt.quoted:
        return next(csv.reader([text], delimiter=fmt.separator), [])
    fields = text.split(fmt.separator)
    extra = len(fields) - count
    if fmt.free_text is not None and extra > 0:
        start = fmt.free_text
        fields[start : start + extra + 1] = [fmt.separator.join(fields[start : start + extra + 1])]
    return fields


def scan(path: Path, columns: Sequence[Column], fmt: TextFormat = CSV, *, collect: bool = False) -> pa.Table | None:
    """Checks every line in Python and raises DataError at the first one that breaks the format.

    Locates what the fast reader rejected (its speed does not matter then); with `collect` it also builds the
    table, for the small text files of the older layouts.
    """
    values: list[list] = [[] for _ in columns]
    for number, text in _lines(path, fmt):
        fields = _split(text, len(columns), fmt)
        if len(fields) != len(columns):
            raise DataError(
                f"expected {len(columns)} fields separated by {fmt.separator!r}, got {len(fields)}: {text!r}",
                path=path,
                line=number,
            )
        for column, value, out in zip(columns, fields, values, strict=True):
            if value == "" and not column.nullable and column.validate is not TEXT:
                raise DataError(f"{column.name} is empty", path=path, line=number)
            message = column.validate(value)
            if message:
                raise DataError(f"{column.name} {message}", path=path, line=number)
            if collect:
                out.append(value)
    if not collect:
        return None
    return pa.table({c.name: _typed(v, c) for c, v in zip(columns, values, strict=True)})


def _typed(values: list[str], column: Column) -> pa.Array:
    if pa.types.is_string(column.type):
        return pa.array(values, column.type)
    convert = float if pa.types.is_floating(column.type) else int
    return pa.array([convert(v) if v.strip() else None for v in values], column.type)


def column(table: pa.Table, name: str, dtype: np.dtype | type, fill: int | float | None = None) -> np.ndarray:
    """A table column as a contiguous NumPy array (nulls replaced by `fill` when given)."""
    array = table.column(name)
    if fill is not None:
        array = array.fill_null(fill)
    return np.ascontiguousarray(array.to_numpy(), dtype=dtype)


def fail_at(path: Path, mask: np.ndarray, message: Callable[[int], str], *, first_line: int = 2) -> None:
    """Raises DataError at the first row where `mask` is true (row 0 is line `first_line`)."""
    bad = np.flatnonzero(mask)
    if bad.size:
        row = int(bad[0])
        raise DataError(f"{message(row)} ({plural(bad.size, 'such row')})", path=path, line=row + first_line)
