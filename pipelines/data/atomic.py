"""Writes that are all or nothing: a temporary sibling is filled, then renamed into place.

A reader never sees a half-written file or folder, and a failure (or Ctrl-C) leaves the target as it was.
Every writer of the project's outputs goes through here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def staged_file(target: Path) -> Iterator[Path]:
    """Yields a temporary path beside `target` to write; on success it replaces `target` in one rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(target: Path, text: str) -> None:
    with staged_file(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: Path, payload: object, indent: int | None = 2) -> None:
    write_text(target, json.dumps(payload, indent=indent, default=float, ensure_ascii=False))


@contextlib.contextmanager
def staged_dir(target: Path, *, complete: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yields an empty temporary folder beside `target` to fill; on success it becomes `target`.

    An existing `target` is renamed away first and removed after, so `target` is only ever absent for the
    instant between two renames. With `complete` (concurrent writers of the same content, e.g. workers
    preparing one cache entry), a `target` that `complete` accepts is never moved: this copy is dropped.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if complete is None:
            _replace_dir(tmp, target)
        else:
            _keep_first_complete(tmp, target, complete)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_dir(new: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        with contextlib.suppress(FileNotFoundError):  # another writer moved it away first
            os.replace(target, old / target.name)
    try:
        os.replace(new, target)
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _keep_first_complete(new: Path, target: Path, complete: Callable[[Path], bool]) -> None:
    if target.exists() and not complete(target):
        shutil.rmtree(target, ignore_errors=True)  # a leftover of a crash (another writer may remove it too)
    try:
        os.replace(new, target)  # fails while another writer's non-empty folder is there
    except OSError:
        if not complete(target):
            raise
        shutil.rmtree(new, ignore_errors=True)
