"""Benchmark: a bounded load test of export.serve on loopback.

    python -m benchmarks.serve_load --export_dir=DIR [--requests=2000] [--seconds=30] [--concurrency=8]

Starts `python -m export.serve --port=0` on 127.0.0.1 (or uses --url, which must be a loopback address),
sends at most --requests requests for at most --seconds from --concurrency keep-alive client threads: 70%
GET /recommend (a random 5-30 movie history), 20% POST :predict (one instance), 10% GET /similar. Prints
throughput and latency percentiles per kind. Client and server share the machine's cores.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
from absl import app, flags

from pipelines import cli

FLAGS = flags.FLAGS
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
KINDS = ("recommend", "predict", "similar")


def request_plan(
    movie_ids: np.ndarray, count: int, model_name: str, seed: int = 0
) -> list[tuple[str, str, str, bytes]]:
    """`count` (kind, method, path, body) requests over the catalog's raw `movie_ids` [n]."""
    rng = np.random.default_rng(seed)
    plan = []
    for kind in rng.choice(KINDS, size=count, p=[0.7, 0.2, 0.1]):
        movies = rng.choice(movie_ids, size=int(rng.integers(5, 31)), replace=False)
        ratings = rng.choice(np.arange(1, 11) / 2, size=len(movies))
        if kind == "recommend":
            history = ",".join(f"{m}:{r}" for m, r in zip(movies, ratings, strict=True))
            plan.append((kind, "GET", f"/recommend?k=10&history={history}", b""))
        elif kind == "predict":
            instance = {
                "history_movie_ids": movies.tolist(),
                "history_ratings": ratings.tolist(),
                "history_timestamps": list(range(10**9, 10**9 + len(movies))),
                "query_timestamp": 10**9 + 10**6,
            }
            plan.append(
                (kind, "POST", f"/v1/models/{model_name}:predict", json.dumps({"instances": [instance]}).encode())
            )
        else:
            plan.append((kind, "GET", f"/similar/{movies[0]}?k=10", b""))
    return plan


def load_test(url: str, plan: list[tuple[str, str, str, bytes]], seconds: float, concurrency: int) -> dict:
    """Sends `plan` (stopping at `seconds`) from `concurrency` threads; returns throughput and latencies."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise ValueError(f"load tests only target loopback addresses, not {parts.hostname}")
    deadline = time.perf_counter() + seconds
    lock, cursor = threading.Lock(), [0]
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    statuses: dict[int, int] = {}

    def worker() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        while time.perf_counter() < deadline:
            with lock:
                if cursor[0] >= len(plan):
                    break
                kind, method, path, body = plan[cursor[0]]
                cursor[0] += 1
            start = time.perf_counter()
            try:
                connection.request(method, path, body=body or None, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()  # reconnects on the next request
                status = 0
            elapsed = time.perf_counter() - start
            with lock:
                latencies.setdefault(kind, []).append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
        connection.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    every = [x for values in latencies.values() for x in values]
    report = {
        "requests": len(every),
        "seconds": round(wall, 2),
        "throughput_per_s": round(len(every) / wall, 1),
        "statuses": statuses,
        "concurrency": concurrency,
    }
    for kind, values in [("all", every), *latencies.items()]:
        if values:
            report[kind] = {
                "count": len(values),
                "p50_ms": round(float(np.percentile(values, 50)) * 1e3, 2),
                "p99_ms": round(float(np.percentile(values, 99)) * 1e3, 2),
            }
    return report


def start_server(export_dir: str, model_name: str) -> tuple[subprocess.Popen, str]:
    """`python -m export.serve --port=0` in a child process and the URL it printed."""
    child = subprocess.Popen(
        [sys.executable, "-m", "export.serve", f"--export_dir={export_dir}", "--port=0", f"--model_name={model_name}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = child.stdout.readline() if child.stdout else ""
    if not line:
        child.kill()
        raise RuntimeError("export.serve exited before listening")
    return child, json.loads(line)["url"]


def main(argv: list[str]) -> None:
    export_dir = FLAGS.export_dir or str(Path(FLAGS.model_dir) / "export")
    movie_ids = np.load(Path(export_dir) / "embeddings" / "movie_ids.npy")[1:]
    plan = request_plan(movie_ids, FLAGS.requests, FLAGS.model_name)
    child, url = (None, FLAGS.url) if FLAGS.url else start_server(export_dir, FLAGS.model_name)
    try:
        load_test(url, plan[: min(50, len(plan))], FLAGS.seconds, 2)  # warm-up: traces, caches
        report = load_test(url, plan, FLAGS.seconds, FLAGS.concurrency)
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=30)
    print(json.dumps(report))
    print(
        f"{report['requests']} requests in {report['seconds']} s from {FLAGS.concurrency} clients: "
        f"{report['throughput_per_s']} requests/s, p50 {report['all']['p50_ms']} ms, p99 {report['all']['p99_ms']} ms"
    )


if __name__ == "__main__":
    cli.define_all_flags()
    flags.DEFINE_integer("requests", 2000, "Most requests sent.")
    flags.DEFINE_float("seconds", 30.0, "Most seconds of load.")
    flags.DEFINE_integer("concurrency", 8, "Client threads (keep-alive connections).")
    flags.DEFINE_string("url", None, "A running server on loopback; default: start export.serve on a free port.")
    app.run(main)
