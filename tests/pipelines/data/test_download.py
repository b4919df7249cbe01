"""Tests for pipelines/download.py against a real HTTP server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import re
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.data import download, releases
from pipelines.data.download import download_file, extract_zip, fetch_release, parse_md5, resolve_data_dir
from pipelines.data.errors import DataError
from pipelines.data.load import load_release
from pipelines.data.synthetic.release import generate

RELEASE = "ml-latest-small"
CSVS = {
    "ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,3.0,9649822\n",
    "movies.csv": 'movieId,title,genres\n1,Toy Story (1995),Animation\n3,"Heat, Again (1995)",Action\n',
    "tags.csv": "userId,movieId,tag,timestamp\n2,1,pixar,1445714994\n",
    "links.csv": "movieId,imdbId,tmdbId\n1,0114709,862\n3,0113277,\n",
}


def make_zip(members: dict[str, str | bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


RELEASE_ZIP = make_zip({f"{RELEASE}/{name}": text for name, text in CSVS.items()})
RELEASE_MD5 = hashlib.md5(RELEASE_ZIP).hexdigest()
ZIP_PATH, MD5_PATH = f"/{RELEASE}.zip", f"/{RELEASE}.zip.md5"


@dataclasses.dataclass
class Server:
    """What the test server serves, how it misbehaves, and what it was asked."""

    base_url: str = ""
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    cuts: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # path -> bytes sent per request
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)

    def ranges(self, path: str) -> list[str | None]:
        return [rng for p, rng in self.requests if p == path]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest output quiet
        pass

    def do_GET(self) -> None:
        state: Server = self.server.state  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        state.requests.append((self.path, rng))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if rng is not None and not state.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))  # the full length, even when cutting
        self.end_headers()
        cuts = state.cuts.get(self.path)
        if cuts:
            self.wfile.write(payload[: cuts.pop(0)])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(payload)


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = Server(base_url=f"http://127.0.0.1:{httpd.server_address[1]}")
    state.files = {ZIP_PATH: RELEASE_ZIP, MD5_PATH: f"MD5 ({RELEASE}.zip) = {RELEASE_MD5}\n".encode()}
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "CHUNK_SIZE", 64)
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.0)


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def all_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*")) if root.exists() else []


def assert_release_folder(folder: Path) -> None:
    assert folder.name == RELEASE
    for name, text in CSVS.items():
        assert (folder / name).read_text() == text


# parse_md5


def test_parse_md5_bsd_and_gnu_formats() -> None:
    digest = "0123456789abcdef0123456789ABCDEF"
    assert parse_md5(f"MD5 (ml-latest-small.zip) = {digest}\n") == digest.lower()
    assert parse_md5(f"{digest}  ml-25m.zip\n") == digest.lower()
    assert parse_md5(f"{digest}\n") == digest.lower()


@pytest.mark.parametrize("text", ["", "not found\n", "MD5 (x.zip) = 1234", "<html>404</html>", "g" * 32])
def test_parse_md5_garbage_raises(text: str) -> None:
    with pytest.raises(DataError, match="no md5 digest"):
        parse_md5(text)


# fetch_release and download_file over HTTP


def test_fetch_release_bsd_md5(server: Server, tmp_path: Path) -> None:
    folder = fetch_release(RELEASE, tmp_path, base_url=server.base_url, progress=False)
    assert folder == tmp_path / RELEASE / RELEASE
    assert_release_folder(folder)
    assert (tmp_path / RELEASE / download.COMPLETE_MARKER).is_file()
    assert not list(tmp_path.glob("*.zip*"))  # zip, .part and .md5 are all gone


def test_fetch_release_gnu_md5(server: Server, tmp_path: Path) -> None:
    server.files[MD5_PATH] = f"{RELEASE_MD5}  {RELEASE}.zip\n".encode()
    assert_release_folder(fetch_release(RELEASE, tmp_path, base_url=server.base_url + "/", progress=True))


def test_fetch_release_twice_uses_network_once(server: Server, tmp_path: Path) -> None:
    first = fetch_release(RELEASE, tmp_path, base_url=server.base_url, progress=False)
    seen = len(server.requests)
    assert seen == 2  # the .md5, then the zip
    assert fetch_release(RELEASE, tmp_path, base_url=server.base_url, progress=False) == first
    assert len(server.requests) == seen


def test_md5_mismatch_leaves_nothing(server: Server, tmp_path: Path) -> None:
    wrong = "f" * 32
    server.files[MD5_PATH] = f"{wrong}  {RELEASE}.zip\n".encode()
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="md5 mismatch") as info:
        fetch_release(RELEASE, cache, base_url=server.base_url, progress=False)
    message = str(info.value)
    assert server.base_url + ZIP_PATH in message and wrong in message and RELEASE_MD5 in message
    assert all_files(cache) == []


@pytest.mark.parametrize("name, folder", [("ml-20m", "ml-20m"), ("ml-10m", "ml-10M100K"), ("ml-1m", "ml-1m"),
                                          ("ml-100k", "ml-100k")])  # fmt: skip
def test_every_benchmark_release_downloads_resumes_and_loads(name: str, folder: str, server: Server,
                                                             tmp_path: Path) -> None:  # fmt: skip
    """Each archive as GroupLens packs it (ml-10m unpacks into ml-10M100K/), its md5 checked, a dropped
    connection resumed, and the files read by its layout's adapter."""
    layout = releases.get_release(name).layout
    written = generate(tmp_path / "written", "tiny", seed=1, layout=layout)
    archive = make_zip({f"{folder}/{p.name}": p.read_bytes() for p in written.iterdir() if p.suffix != ".npz"})
    server.files[f"/{name}.zip"] = archive
    server.files[f"/{name}.zip.md5"] = f"MD5 ({name}.zip) = {hashlib.md5(archive).hexdigest()}\n".encode()
    server.cuts[f"/{name}.zip"] = [len(archive) // 2]
    unpacked = fetch_release(name, tmp_path / "cache", base_url=server.base_url, progress=False)
    assert unpacked == tmp_path / "cache" / name / folder
    assert server.ranges(f"/{name}.zip") == [None, f"bytes={len(archive) // 2}-"]
    raw = load_release(unpacked)
    assert len(raw.ratings) == 15_000 and (raw.genome is not None) == releases.get_release(name).has_genome


def test_connection_cut_mid_file_resumes(server: Server, tmp_path: Path) -> None:
    server.cuts[ZIP_PATH] = [300]
    url = server.base_url + ZIP_PATH
    dest = download_file(url, tmp_path / "a.zip", expected_md5=RELEASE_MD5, progress=False)
    assert server.ranges(ZIP_PATH) == [None, "bytes=300-"]
    assert dest.read_bytes() == RELEASE_ZIP
    assert not dest.with_suffix(".zip.part").exists()


def test_repeated_cuts_exhaust_retries_and_keep_part(server: Server, tmp_path: Path) -> None:
    server.cuts[ZIP_PATH] = [100, 100, 100]
    dest = tmp_path / "a.zip"
    with pytest.raises(DataError, match="failed after 2 attempts"):
        download_file(server.base_url + ZIP_PATH, dest, retries=1, progress=False)
    assert not dest.exists()
    assert dest.with_suffix(".zip.part").read_bytes() == RELEASE_ZIP[:200]
    download_file(server.base_url + ZIP_PATH, dest, expected_md5=RELEASE_MD5, progress=False)  # 1 cut left
    assert server.ranges(ZIP_PATH) == [None, "bytes=100-", "bytes=200-", "bytes=300-"]
    assert dest.read_bytes() == RELEASE_ZIP


def test_resume_from_existing_part(server: Server, tmp_path: Path) -> None:
    (tmp_path / f"{RELEASE}.zip.part").write_bytes(RELEASE_ZIP[:200])
    folder = fetch_release(RELEASE, tmp_path, base_url=server.base_url, progress=False)
    assert server.ranges(ZIP_PATH) == ["bytes=200-"]
    assert_release_folder(folder)


def test_resume_from_bad_part_fails_md5_and_deletes_it(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "a.zip"
    dest.with_suffix(".zip.part").write_bytes(b"x" * 200)
    with pytest.raises(DataError, match="md5 mismatch"):
        download_file(server.base_url + ZIP_PATH, dest, expected_md5=RELEASE_MD5, progress=False)
    assert all_files(tmp_path) == []
    download_file(server.base_url + ZIP_PATH, dest, expected_md5=RELEASE_MD5, progress=False)  # the rerun
    assert dest.read_bytes() == RELEASE_ZIP


def test_server_ignoring_range_restarts(server: Server, tmp_path: Path) -> None:
    server.ignore_range = True
    dest = tmp_path / "a.zip"
    dest.with_suffix(".zip.part").write_bytes(b"x" * 100)  # would fail the md5 if appended to
    download_file(server.base_url + ZIP_PATH, dest, expected_md5=RELEASE_MD5, progress=False)
    assert server.ranges(ZIP_PATH) == ["bytes=100-"]
    assert dest.read_bytes() == RELEASE_ZIP


def test_part_already_whole_gets_416_and_restarts(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "a.zip"
    dest.with_suffix(".zip.part").write_bytes(RELEASE_ZIP)
    download_file(server.base_url + ZIP_PATH, dest, expected_md5=RELEASE_MD5, progress=False)
    assert server.ranges(ZIP_PATH) == [f"bytes={len(RELEASE_ZIP)}-", None]
    assert dest.read_bytes() == RELEASE_ZIP


def test_http_404_raises(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"/missing\.zip: HTTP 404"):
        download_file(server.base_url + "/missing.zip", tmp_path / "m.zip", progress=False)
    with pytest.raises(DataError, match=r"ml-25m\.zip\.md5: HTTP 404"):
        fetch_release("ml-25m", tmp_path, base_url=server.base_url, progress=False)
    assert len(server.requests) == 2  # no retries on a 404
    assert all_files(tmp_path) == []


def test_unreachable_server_raises_after_retries(closed_port_url: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="failed after 3 attempts"):
        download_file(closed_port_url + ZIP_PATH, tmp_path / "a.zip", retries=2, timeout=2, progress=False)


def test_corrupt_zip_with_matching_md5_leaves_nothing(server: Server, tmp_path: Path) -> None:
    garbage = RELEASE_ZIP[: len(RELEASE_ZIP) // 2]
    server.files[ZIP_PATH] = garbage
    server.files[MD5_PATH] = hashlib.md5(garbage).hexdigest().encode()
    with pytest.raises(DataError, match="corrupt zip"):
        fetch_release(RELEASE, tmp_path, base_url=server.base_url, progress=False)
    assert all_files(tmp_path) == []


# extract_zip


@pytest.mark.parametrize(
    "data",
    [RELEASE_ZIP[:-30], RELEASE_ZIP[: len(RELEASE_ZIP) // 2], b"PK\x03\x04 not a zip at all", b""],
    ids=["truncated-tail", "truncated-half", "garbage", "empty"],
)
def test_extract_corrupt_zip_raises(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "in").mkdir()
    zip_path = tmp_path / "in" / "bad.zip"
    zip_path.write_bytes(data)
    with pytest.raises(DataError, match="corrupt zip"):
        extract_zip(zip_path, tmp_path / "out" / "bad")
    assert all_files(tmp_path / "out") == []


def test_extract_crc_mismatch_raises(tmp_path: Path) -> None:
    data = make_zip({f"{RELEASE}/ratings.csv": CSVS["ratings.csv"]}, zipfile.ZIP_STORED)
    zip_path = tmp_path / "crc.zip"
    zip_path.write_bytes(data.replace(b"964982703", b"964982704"))  # same length, stored uncompressed
    with pytest.raises(DataError, match=r"corrupt zip.*CRC"):
        extract_zip(zip_path, tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["crc.zip"]


@pytest.mark.parametrize("member", ["../evil.csv", "ok/../../evil.csv", "/etc/evil.csv", "C:/evil.csv"])
def test_extract_rejects_unsafe_members(tmp_path: Path, member: str) -> None:
    zip_path = tmp_path / "evil.zip"
    zip_path.write_bytes(make_zip({"ratings.csv": CSVS["ratings.csv"], member: "boom"}))
    with pytest.raises(DataError, match="unsafe member path"):
        extract_zip(zip_path, tmp_path / "sub" / "out")
    assert all_files(tmp_path / "sub") == []
    assert not (tmp_path / "evil.csv").exists()


def test_extract_zip_with_csvs_at_root(tmp_path: Path) -> None:
    zip_path = tmp_path / "flat.zip"
    zip_path.write_bytes(make_zip(CSVS))
    folder = extract_zip(zip_path, tmp_path / "out")
    assert folder == tmp_path / "out"
    assert (folder / "ratings.csv").read_text() == CSVS["ratings.csv"]


def test_extract_zip_without_csvs_raises(tmp_path: Path) -> None:
    zip_path = tmp_path / "docs.zip"
    zip_path.write_bytes(make_zip({"README.txt": "hi", "a/b.txt": "x", "c/d.txt": "y"}))
    with pytest.raises(DataError, match=r"no ratings\.csv or ratings\.dat or u\.data at the top level"):
        extract_zip(zip_path, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.zip"]


def test_extract_replaces_leftover_folder(tmp_path: Path) -> None:
    zip_path = tmp_path / "r.zip"
    zip_path.write_bytes(RELEASE_ZIP)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.txt").write_text("old")
    assert_release_folder(extract_zip(zip_path, tmp_path / "out"))
    assert not (tmp_path / "out" / "stale.txt").exists()


# resolve_data_dir


def test_resolve_extracted_folder_uses_no_network(closed_port_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name, text in CSVS.items():
        (data / name).write_text(text)
    cache = tmp_path / "cache"
    assert resolve_data_dir(data, RELEASE, cache, base_url=closed_port_url) == data
    assert resolve_data_dir(str(tmp_path), RELEASE, cache, base_url=closed_port_url) == data  # one level up
    assert not cache.exists()


def test_resolve_zip_extracts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zip_path = tmp_path / f"{RELEASE}.zip"
    zip_path.write_bytes(RELEASE_ZIP)
    cache = tmp_path / "cache"
    folder = resolve_data_dir(zip_path, "ml-latest", cache)
    assert folder.parent.parent == cache / "extracted"
    assert folder.parent.name.startswith(f"{RELEASE}-")
    assert_release_folder(folder)

    def no_extract(*args: object) -> None:
        raise AssertionError("extracted twice")

    monkeypatch.setattr(download, "extract_zip", no_extract)
    assert resolve_data_dir(str(zip_path), "ml-latest", cache) == folder


def test_resolve_zip_without_ratings_raises(tmp_path: Path) -> None:
    zip_path = tmp_path / "movies-only.zip"
    zip_path.write_bytes(make_zip({"movies.csv": CSVS["movies.csv"]}))
    with pytest.raises(DataError, match=r"no ratings\.csv"):
        resolve_data_dir(zip_path, RELEASE, tmp_path / "cache")
    assert all_files(tmp_path / "cache" / "extracted") == []


def test_resolve_none_downloads(server: Server, tmp_path: Path) -> None:
    assert_release_folder(resolve_data_dir(None, RELEASE, tmp_path, base_url=server.base_url, progress=False))


def test_resolve_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as info:
        resolve_data_dir(tmp_path / "nope", RELEASE, tmp_path / "cache")
    assert str(tmp_path / "nope") in str(info.value)


def test_resolve_folder_without_ratings_raises(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "movies.csv").write_text(CSVS["movies.csv"])
    with pytest.raises(DataError, match=r"no ratings\.csv") as info:
        resolve_data_dir(tmp_path / "a", RELEASE, tmp_path / "cache")
    assert str(tmp_path / "a") in str(info.value)


def test_resolve_file_that_is_not_a_zip_raises(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(CSVS["ratings.csv"])
    with pytest.raises(DataError, match=r"neither a release folder .* nor a \.zip"):
        resolve_data_dir(path, RELEASE, tmp_path / "cache")
