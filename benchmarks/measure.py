"""Runs a Python command in a child process and reports its wall time and its own peak RSS (wait4)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time


@dataclasses.dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_gb: float
    stdout: str


def run_measured(args: list[str], *, env: dict | None = None) -> Measured:
    """Runs `python args...` to completion; raises RuntimeError with its stderr when it fails."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, *args], stdout=out, stderr=err,
                                 env={**os.environ, **(env or {})})  # fmt: skip
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not the max over children
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {child.returncode}: {err.read().strip()[-2000:]}")
        return Measured(seconds, usage.ru_maxrss / 1e6, out.read())
