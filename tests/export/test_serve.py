"""export.serve / export.api: the TF Serving predict API and the JSON endpoints through Starlette's test
client, every kind of bad input (a 4xx with a JSON error, and the server still answers after it), and a
real server on 127.0.0.1 port 0 under a short bounded load."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from starlette.testclient import TestClient

from benchmarks.serve_load import load_test, request_plan
from export.api import ServeConfig, create_app
from export.bundle import Export
from export.predict import MAX_BODY_BYTES
from tests.conftest import K, run_module, start_module

ROOT = Path(__file__).resolve().parents[2]
PREDICT = "/v1/models/movielens:predict"


@pytest.fixture(scope="module")
def export(export_dir: Path) -> Export:
    return Export(export_dir, "scann")


@pytest.fixture(scope="module")
def client(export: Export) -> TestClient:
    app = create_app(export, ServeConfig(max_history=50, max_batch=4))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def ids(export_prepared) -> list[int]:
    return export_prepared.catalog.movie_ids[1:].tolist()


def instance(ids: list[int], count: int = 3) -> dict:
    return {
        "history_movie_ids": ids[:count],
        "history_ratings": [4.5] * count,
        "history_timestamps": [10**9 + i for i in range(count)],
        "query_timestamp": 10**9 + 100,
    }


def test_health_and_model_status(client: TestClient) -> None:
    assert client.get("/healthz").json() == {
        "status": "ok",
        "model": "movielens",
        "index": "scann",
        "movies": 600,
        "k": K,
    }
    assert client.get("/v1/models/movielens").json()["model_version_status"][0]["state"] == "AVAILABLE"


def test_predict_instances_and_inputs_agree_with_the_signature(client: TestClient, export: Export, ids) -> None:
    rows = [instance(ids, 3), instance(ids[10:], 5)]
    by_rows = client.post(PREDICT, json={"instances": rows})
    assert by_rows.status_code == 200, by_rows.text
    predictions = by_rows.json()["predictions"]
    assert len(predictions) == 2 and len(predictions[0]["movie_ids"]) == K and len(predictions[1]["scores"]) == K
    columns = {name: [row[name] for row in rows] for name in rows[0]}  # ragged histories: padded with 0
    by_columns = client.post(PREDICT, json={"signature_name": "recommend", "inputs": columns}).json()["outputs"]
    assert by_columns["movie_ids"] == [p["movie_ids"] for p in predictions]
    dtypes = {"history_ratings": tf.float32}
    direct = export.model.signatures["recommend"](
        **{k: tf.constant(v[:1], dtypes.get(k, tf.int64)) for k, v in columns.items()}
    )
    assert predictions[0]["movie_ids"] == direct["movie_ids"].numpy()[0].tolist()
    assert not set(predictions[0]["movie_ids"]) & set(ids[:3])


def test_movie_signatures_take_bare_ids(client: TestClient, ids) -> None:
    similar = client.post(PREDICT, json={"signature_name": "similar_movies", "instances": ids[:2]}).json()
    assert len(similar["predictions"]) == 2 and ids[0] not in similar["predictions"][0]["movie_ids"]
    embedding = client.post(PREDICT, json={"signature_name": "movie_embedding", "inputs": ids[:3]}).json()
    assert np.asarray(embedding["outputs"]).shape == (3, 16)  # one output: the values directly, as TF Serving
    user = client.post(PREDICT, json={"signature_name": "user_embedding", "instances": [instance(ids)]}).json()
    assert np.asarray(user["predictions"]).shape == (1, 16)


def test_recommend_and_similar_endpoints(client: TestClient, export: Export, ids) -> None:
    history = ",".join(f"{m}:{r}" for m, r in zip(ids[:4], (5, 4.5, 2, 4), strict=True))
    reply = client.get(f"/recommend?history={history}&k=5")
    assert reply.status_code == 200, reply.text
    recommendations = reply.json()["recommendations"]
    assert [r["rank"] for r in recommendations] == [1, 2, 3, 4, 5]
    assert not {r["movie_id"] for r in recommendations} & set(ids[:4])
    assert all(r["because"]["movie_id"] in (ids[0], ids[1], ids[3]) for r in recommendations)  # liked ones only
    assert recommendations[0]["title"] == export.info[recommendations[0]["movie_id"]][0]
    similar = client.get(f"/similar/{ids[0]}?k=3").json()
    assert similar["movie"]["movie_id"] == ids[0] and len(similar["similar"]) == 3
    assert ids[0] not in [r["movie_id"] for r in similar["similar"]]


def bad_requests(ids: list[int]) -> list[tuple[str, str, object, int, str]]:
    """(method, path, body (bytes, JSON-able or None), expected status, a word of the error)."""
    good = instance(ids)
    unknown = max(ids) + 1
    return [
        ("POST", PREDICT, b"{not json", 400, "malformed JSON"),
        ("POST", PREDICT, b'{"instances": [NaN]}', 400, "NaN"),
        ("POST", PREDICT, b"\xff\xfe", 400, "malformed JSON"),
        ("POST", PREDICT, b"[" * 100_000, 400, "malformed JSON"),
        ("POST", PREDICT, [good], 400, "JSON object"),
        ("POST", PREDICT, {}, 400, "exactly one of"),
        ("POST", PREDICT, {"instances": [good], "inputs": {}}, 400, "exactly one of"),
        ("POST", PREDICT, {"instances": [good], "extra": 1}, 400, "unexpected keys"),
        ("POST", PREDICT, {"signature_name": "train", "instances": [good]}, 400, "unknown signature_name"),
        ("POST", PREDICT, {"instances": []}, 400, "empty"),
        ("POST", PREDICT, {"instances": [good] * 5}, 400, "at most 4"),
        ("POST", PREDICT, {"instances": "abc"}, 400, "must be a list"),
        ("POST", PREDICT, {"instances": [1]}, 400, "must be an object"),
        ("POST", PREDICT, {"instances": [{**good, "query_timestamp": None}]}, 400, "must be an integer"),
        ("POST", PREDICT, {"instances": [{k: v for k, v in good.items() if k != "history_ratings"}]}, 400, "missing"),
        ("POST", PREDICT, {"instances": [{**good, "history_movie_ids": ["1", 2, 3]}]}, 400, "must be an integer"),
        ("POST", PREDICT, {"instances": [{**good, "history_movie_ids": [1.5, 2, 3]}]}, 400, "must be an integer"),
        ("POST", PREDICT, {"instances": [{**good, "history_movie_ids": [True, 2, 3]}]}, 400, "must be an integer"),
        ("POST", PREDICT, {"instances": [{**good, "history_movie_ids": [2**70, 2, 3]}]}, 400, "2**63"),
        ("POST", PREDICT, {"instances": [{**good, "history_ratings": ["a", 1, 1]}]}, 400, "finite number"),
        ("POST", PREDICT, {"instances": [{**good, "history_ratings": [9, 1, 1]}]}, 400, "between 0"),
        ("POST", PREDICT, {"instances": [{**good, "history_timestamps": [-5, 1, 1]}]}, 400, "integer in 0"),
        ("POST", PREDICT, {"instances": [{**good, "history_ratings": [4.0]}]}, 400, "differ in length"),
        ("POST", PREDICT, {"instances": [instance([], 0)]}, 400, "history is empty"),
        ("POST", PREDICT, {"instances": [instance(ids, 51)]}, 400, "at most 50"),
        ("POST", PREDICT, {"instances": [{**good, "history_movie_ids": [unknown, *ids[:2]]}]}, 400, "unknown movie"),
        ("POST", PREDICT, {"signature_name": "similar_movies", "instances": [unknown]}, 400, "unknown movie"),
        ("POST", PREDICT, {"signature_name": "similar_movies", "inputs": {"movie_ids": [1], "x": [2]}}, 400, "unexp"),
        (
            "POST",
            PREDICT,
            {"inputs": {**{k: [v] for k, v in good.items()}, "query_timestamp": [1, 2]}},
            400,
            "different batch sizes",
        ),
        ("POST", PREDICT, b" " * (MAX_BODY_BYTES + 1), 413, "request body over"),
        ("POST", "/v1/models/other:predict", {"instances": [good]}, 404, "no model named"),
        ("GET", PREDICT, None, 405, "Method Not Allowed"),
        ("GET", "/nowhere", None, 404, "Not Found"),
        ("GET", "/recommend", None, 400, "history is empty"),
        ("GET", "/recommend?history=", None, 400, "history is empty"),
        ("GET", "/recommend?history=1:a", None, 400, "bad history item"),
        ("GET", "/recommend?history=abc", None, 400, "bad history item"),
        ("GET", f"/recommend?history={ids[0]}:inf", None, 400, "ratings run from"),
        ("GET", f"/recommend?history={unknown}:4", None, 400, "unknown movie ids"),
        ("GET", "/recommend?history=" + ",".join(f"{m}:4" for m in ids[:51]), None, 400, "at most 50"),
        ("GET", f"/recommend?history={ids[0]}:4&k=0", None, 400, f"k must be in 1..{K}"),
        ("GET", f"/recommend?history={ids[0]}:4&k={K + 1}", None, 400, f"k must be in 1..{K}"),
        ("GET", f"/recommend?history={ids[0]}:4&k=ten", None, 400, "k must be an integer"),
        ("GET", f"/recommend?history={ids[0]}:4&query_time=-1", None, 400, "query_time must be in"),
        ("GET", "/similar/abc", None, 400, "must be an integer"),
        ("GET", f"/similar/{unknown}", None, 404, "unknown movieId"),
        ("GET", f"/similar/{ids[0]}?k=1000", None, 400, "k must be in"),
    ]


def test_every_bad_request_gets_a_json_4xx_and_the_server_keeps_answering(client: TestClient, ids) -> None:
    for method, path, body, status, words in bad_requests(ids):
        content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        reply = client.request(method, path, content=content)
        assert reply.status_code == status, (method, path, reply.status_code, reply.text[:300])
        assert words in reply.json()["error"], (path, reply.json())
    assert client.get("/healthz").status_code == 200


def test_a_real_server_on_loopback_under_bounded_load(export_dir: Path, ids) -> None:
    child = start_module("export.serve", f"--export_dir={export_dir}", "--port=0")
    try:
        line = child.stdout.readline()
        assert line, child.stderr.read()[-3000:]
        url = json.loads(line)["url"]
        assert url.startswith("http://127.0.0.1:")
        plan = [*request_plan(np.array(ids), 60, "movielens"), ("bad", "POST", PREDICT, b"{oops")]
        report = load_test(url, plan, seconds=60, concurrency=4)
        assert report["requests"] == 61 and report["statuses"] == {200: 60, 400: 1}, report
        assert report["all"]["p99_ms"] > 0 and report["throughput_per_s"] > 0
        assert child.poll() is None  # still serving
    finally:
        child.terminate()
        child.wait(timeout=30)


def test_a_port_in_use_is_one_error_line_naming_it(export_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_module("export.serve", f"--export_dir={export_dir}", f"--port={port}")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith(f"error: cannot listen on 127.0.0.1:{port}: ") and "in use" in lines[0]
