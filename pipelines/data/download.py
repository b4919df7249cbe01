"""Download, verify and unpack MovieLens archives with the standard library (no TensorFlow).

Downloads stream into ``<dest>.part`` and resume with HTTP ``Range`` requests after a dropped
connection or an interrupted run. The md5 is checked before the file takes its final name, and archives
are unpacked into a temporary sibling folder that is then renamed into place, so a failure never leaves
a half-written file or folder under a name that a later run would trust.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from pipelines.data import atomic, releases
from pipelines.data.errors import DataError

CHUNK_SIZE = 1 << 20
RETRY_BACKOFF_S = 1.0  # wait before the first retry; doubles after each failure, capped at 30 s
COMPLETE_MARKER = ".complete"  # written last into an extracted folder; its presence means "usable"
RATINGS_FILES = " or ".join(dict.fromkeys(layout.ratings for layout in releases.LAYOUTS.values()))

_BSD_MD5 = re.compile(r"^MD5 \(.*\) = ([0-9a-fA-F]{32})\s*$", re.MULTILINE)
_GNU_MD5 = re.compile(r"^\\?([0-9a-fA-F]{32})(?:\s|$)", re.MULTILINE)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class _Retry(Exception):
    """A transient failure (dropped connection, timeout, 5xx) worth another attempt."""


class _Part:
    """The ``.part`` file with its byte count and running md5, kept in step across attempts."""

    def __init__(self, path: Path) -> None:
        self.path, self.size, self.md5 = path, 0, hashlib.md5()
        if path.exists():  # an earlier run's bytes count towards the md5 too
            with path.open("rb") as f:
                while block := f.read(CHUNK_SIZE):
                    self.md5.update(block)
                    self.size += len(block)

    def reset(self) -> None:
        self.path.write_bytes(b"")
        self.size, self.md5 = 0, hashlib.md5()


def parse_md5(text: str) -> str:
    """Returns the lowercase hex digest of a published ``.md5`` file.

    Args:
      text: BSD style ``MD5 (ml-latest-small.zip) = <hex>`` or GNU style ``<hex>  ml-25m.zip``.

    Raises:
      DataError: no 32-hex-digit digest in either format.
    """
    match = _BSD_MD5.search(text) or _GNU_MD5.search(text)
    if match is None:
        raise DataError(f"no md5 digest found in {text[:100]!r}")
    return match.group(1).lower()


def _attempt(url: str, part: _Part, *, timeout: float, chunk_size: int, progress: bool, desc: str) -> None:
    """One HTTP request that appends to ``part``; raises _Retry on transient failures."""
    headers = {"Range": f"bytes={part.size}-"} if part.size else {}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and part.size:  # the .part is stale or already whole: start over
            part.reset()
            raise _Retry("HTTP 416 on resume; starting over") from err
        if err.code in _RETRY_STATUS:
            raise _Retry(f"HTTP {err.code} {err.reason}") from err
        raise DataError(f"HTTP {err.code} {err.reason}", path=url) from err
    except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, refused connections
        raise _Retry(repr(err)) from err
    with response:
        if response.status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != part.size:
                part.reset()
                raise _Retry(f"unexpected Content-Range {response.headers.get('Content-Range')!r}")
            total = None if match.group(2) == "*" else int(match.group(2))
        else:  # 200: the server ignored Range and sends the whole file again
            part.reset()
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
        quiet = None if progress else True  # None: tqdm stays off when stderr is not a terminal
        bar = tqdm(total=total, initial=part.size, unit="B", unit_scale=True, desc=desc, disable=quiet)
        with part.path.open("ab") as out, bar:
            while True:
                try:
                    chunk = response.read(chunk_size)
                except (OSError, http.client.HTTPException) as err:  # reset, timeout, IncompleteRead
                    raise _Retry(f"connection lost at byte {part.size}: {err!r}") from err
                if not chunk:
                    break
                out.write(chunk)
                part.md5.update(chunk)
                part.size += len(chunk)
                bar.update(len(chunk))
    # http.client returns b"" rather than raising when the peer closes before Content-Length.
    if total is not None and part.size < total:
        raise _Retry(f"connection closed at byte {part.size} of {total}")


def download_file(
    url: str,
    dest: Path,
    *,
    expected_md5: str | None = None,
    progress: bool = True,
    retries: int = 5,
    timeout: float = 60,
    chunk_size: int | None = None,
) -> Path:
    """Downloads ``url`` to ``dest`` via ``dest.part``, resuming with ``Range``; md5-checked before renaming.

    Args:
      url: http(s) URL of the file.
      dest: final path, written only once the file is complete and verified.
      expected_md5: hex digest to check; None skips the check.
      progress: show a tqdm bar (only on a terminal).
      retries: further attempts after transient failures, each resuming where the last one stopped.
      timeout: socket timeout in seconds for connecting and for each read.
      chunk_size: bytes per read; defaults to ``CHUNK_SIZE`` (1 MiB).

    Returns:
      ``dest``.

    Raises:
      DataError: on an HTTP error status, on failure after all retries (the ``.part`` is kept for a
        later resume) or on an md5 mismatch (the ``.part`` is deleted).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _Part(dest.with_suffix(dest.suffix + ".part"))
    chunk = chunk_size or CHUNK_SIZE
    for attempt in range(max(retries, 0) + 1):
        if attempt:
            time.sleep(min(RETRY_BACKOFF_S * 2 ** (attempt - 1), 30.0))
        try:
            _attempt(url, part, timeout=timeout, chunk_size=chunk, progress=progress, desc=dest.name)
            break
        except _Retry as err:
            failure = err
    else:
        raise DataError(f"failed after {retries + 1} attempts ({failure}); rerun to resume", path=url)
    if expected_md5 is not None:
        actual = part.md5.hexdigest()
        if actual != expected_md5.lower():
            part.path.unlink(missing_ok=True)
            raise DataError(f"md5 mismatch: expected {expected_md5.lower()}, got {actual}", path=url)
    os.replace(part.path, dest)
    return dest


def _check_member(name: str, zip_path: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"[A-Za-z]:", name):
        raise DataError(f"unsafe member path {name!r} in zip", path=zip_path)


def release_folder(root: Path, source: Path) -> Path:
    """``root`` if it holds a release's files (any layout), else its single top-level folder that does."""
    if releases.detect_layout(root):
        return root
    folders = [d for d in root.iterdir() if d.is_dir() and d.name != "__MACOSX"]
    if len(folders) == 1 and releases.detect_layout(folders[0]):
        return folders[0]
    raise DataError(f"no {RATINGS_FILES} at the top level or in a single top-level folder", path=source)


def extract_zip(zip_path: Path, dest_dir: Path) -> Path:
    """Unpacks a zip into ``dest_dir`` through a temporary sibling folder renamed into place.

    Args:
      zip_path: the archive.
      dest_dir: folder to create; an existing one (from a run that stopped before its marker) is replaced.

    Returns:
      The folder holding the release's files: ``dest_dir`` or its single subfolder (``dest_dir/ml-latest-small``).

    Raises:
      DataError: missing or corrupt zip (bad structure or CRC), a member with an absolute or ``..``
        path, or no release files. Nothing is left at ``dest_dir`` or beside it.
    """
    zip_path, dest_dir = Path(zip_path), Path(dest_dir)
    if not zip_path.is_file():
        raise DataError("zip file not found", path=zip_path)
    with atomic.staged_dir(dest_dir) as tmp:
        try:
            with zipfile.ZipFile(zip_path) as archive:
                for name in archive.namelist():
                    _check_member(name, zip_path)
                # No testzip() pass: reading each member checks its CRC-32 (BadZipFile at the member's
                # end), so a separate pass would only decompress a 1.5 GB release twice.
                archive.extractall(tmp)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
            raise DataError(f"corrupt zip: {err}", path=zip_path) from err
        relative = release_folder(tmp, zip_path).relative_to(tmp)
    return dest_dir / relative


def fetch_release(name: str, cache_dir: Path, *, base_url: str | None = None, progress: bool = True) -> Path:
    """Downloads, verifies and unpacks a MovieLens release once; later calls use no network.

    Args:
      name: release name from ``releases.RELEASES`` (``ml-latest-small``).
      cache_dir: the release is unpacked into ``cache_dir/<name>/``; the zip is deleted afterwards.
      base_url: where ``<name>.zip`` and ``<name>.zip.md5`` live; defaults to ``releases.BASE_URL``.
      progress: show a download progress bar.

    Returns:
      The folder holding the release's files.

    Raises:
      ValueError: unknown release name.
      DataError: HTTP or network failure, unreadable md5 file, md5 mismatch, corrupt zip.
    """
    releases.get_release(name)  # fail on a typo before touching the network
    cache_dir = Path(cache_dir)
    target = cache_dir / name
    if (target / COMPLETE_MARKER).is_file():
        return release_folder(target, target)
    url = f"{(base_url or releases.BASE_URL).rstrip('/')}/{name}.zip"
    md5_path = download_file(f"{url}.md5", cache_dir / f"{name}.zip.md5", progress=False)
    try:
        expected = parse_md5(md5_path.read_text(encoding="utf-8", errors="replace"))
    finally:
        md5_path.unlink()
    zip_path = download_file(url, cache_dir / f"{name}.zip", expected_md5=expected, progress=progress)
    try:
        folder = extract_zip(zip_path, target)
        (target / COMPLETE_MARKER).write_text(f"{url}\nmd5 {expected}\n", encoding="utf-8")
    finally:
        zip_path.unlink(missing_ok=True)  # the unpacked folder is the cache; a corrupt zip must not stay
    return folder


def resolve_data_dir(
    data_dir: str | Path | None,
    release: str,
    cache_dir: Path,
    *,
    base_url: str | None = None,
    progress: bool = True,
) -> Path:
    """Turns the user's ``--data_dir`` into a folder holding a release's files (any layout).

    Args:
      data_dir: None (download ``release``), a release folder, a folder whose single subfolder is one, or a
        ``.zip`` (unpacked once into ``cache_dir/extracted/``).
      release: release to download when ``data_dir`` is None.
      cache_dir: download and extraction cache.
      base_url, progress: passed to ``fetch_release``.

    Returns:
      The folder holding the ratings file (ratings.csv, ratings.dat or u.data) and the other files.

    Raises:
      DataError: a missing path, a folder without a ratings file, neither folder nor zip, or an error
        from ``fetch_release`` / ``extract_zip``.
    """
    if data_dir is None:
        return fetch_release(release, cache_dir, base_url=base_url, progress=progress)
    path = Path(data_dir).expanduser()
    if path.is_dir():
        if releases.detect_layout(path):
            return path
        found = [d for d in path.iterdir() if d.is_dir() and releases.detect_layout(d)]
        if len(found) == 1:
            return found[0]
        raise DataError(f"no {RATINGS_FILES} in the folder nor in a single subfolder", path=path)
    if path.is_file() and path.suffix.lower() == ".zip":
        stat = path.stat()
        key = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
        target = Path(cache_dir) / "extracted" / f"{path.stem}-{key}"
        if (target / COMPLETE_MARKER).is_file():
            return release_folder(target, path)
        folder = extract_zip(path, target)
        (target / COMPLETE_MARKER).write_text(f"{path.resolve()}\n", encoding="utf-8")
        return folder
    if not path.exists():
        raise DataError("data_dir does not exist", path=path)
    raise DataError(f"data_dir is neither a release folder (with {RATINGS_FILES}) nor a .zip file", path=path)
