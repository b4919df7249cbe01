"""The one error type the data layer raises for bad input; entry points turn it into exit code 2."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data: names what is wrong and where (file, line, value)."""

    def __init__(self, message: str, *, path: object = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line
