"""What the commands print: their own lines, not the native libraries' log chatter.

TensorFlow's C++ logs obey TF_CPP_MIN_LOG_LEVEL (set before TensorFlow is imported, pipelines/__init__.py),
but XLA and ScaNN also log through Abseil's C++ logging, which nothing in Python can configure ("Compiled
cluster using XLA!", ScaNN's partitioner timings, "All log messages before absl::InitializeLog() ...").
`quiet_native_logs` sends the process's stderr to a temporary file for the span of a block and then
passes on everything except those informational lines, so warnings, errors and tracebacks still reach the
terminal (after the block) and nothing is lost.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

NATIVE_INFO = re.compile(r"^(I\d{4} [\d:.]+ +\d+ \S+:\d+\] |WARNING: All log messages before absl::InitializeLog\(\))")


def quiet() -> bool:
    """Whether native logs are hidden: TF_CPP_MIN_LOG_LEVEL 3 (the default unless --verbosity is given)."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip() == "3"


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Within the block, Abseil's informational C++ log lines are dropped; any other stderr output is
    written out when the block ends (also when it raises)."""
    if not quiet():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not NATIVE_INFO.match(line)]  # fmt: skip
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def plural(count: int, word: str) -> str:
    """'1 case', '2 cases', '1,234 ratings'."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"
