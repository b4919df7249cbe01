"""Benchmark: ScaNN against exact brute force over the same catalog, in the same run.

    python -m benchmarks.retrieval --export_dir=DIR                 # an export and its validation queries
    python -m benchmarks.retrieval --prepared_dir=P --work_dir=W    # 86.5k movies: short model on a prepared
                                                                    # full-size release, exported into W
    python -m benchmarks.retrieval --clustered                      # fallback: random clustered embeddings

Two query sets on an export: user queries (validation cases embedded by the export's `user_embedding`
signature) and movie queries (random movies' own embeddings: the similar-movies use; also the harder
set when a briefly trained model's user embeddings all point at the same popular movies). For each:
ScaNN recall@10 against the exact top-10 (target >= 0.95), batched search time of both indexes over
every query (best of --repeats; target: ScaNN >= 5x faster at 86.5k movies), single-query latency p50 /
p99; then the exported `recommend` signature's (query tower + index) latency in both SavedModels. Both
indexes are TFRS layers (factorized_top_k.ScaNN and .BruteForce) on the same embeddings; the ScaNN
parameters are the export flags (--scann_*), adapted to the catalog size as the export adapts them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import app, flags

from export import artifacts
from export.build import ExportConfig, export_model, saved_model_path
from export.index import ScannParams, scann_layer
from pipelines import cli
from pipelines.data import dataset
from pipelines.data.split import Cases
from pipelines.training.input import query_features

FLAGS = flags.FLAGS
K = 10
FULL_MOVIES, FULL_DIM = 86_537, 64
NEAR_TIE = 1e-3  # score tolerance of the tie-aware recall


@dataclasses.dataclass(frozen=True)
class Timing:
    """Attributes: search_batch (queries a batched call), repeats (best of), latency_queries (timed singly)."""

    search_batch: int = 1024
    repeats: int = 3
    latency_queries: int = 1000


def percentiles(seconds: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(seconds, 50)) * 1e3, 3),
        "p99_ms": round(float(np.percentile(seconds, 99)) * 1e3, 3),
    }


def raw_queries(cases: Cases, movie_ids: np.ndarray, history_length: int) -> dict[str, np.ndarray]:
    """Validation cases as `recommend` inputs with raw MovieLens ids [C, N] (0 = padding)."""
    features = query_features(cases.history, cases.query_times, history_length)
    return {
        "history_movie_ids": np.asarray(movie_ids, np.int64)[features["history_movies"]],
        "history_ratings": features["history_ratings"],
        "history_timestamps": features["history_timestamps"],
        "query_timestamp": features["query_timestamp"],
    }


def embed_queries(export_dir: Path, inputs: dict[str, np.ndarray], batch: int = 1024) -> np.ndarray:
    """[C, d] user embeddings from the export's brute-force SavedModel (`user_embedding` signature)."""
    signature = tf.saved_model.load(str(saved_model_path(export_dir, "brute_force"))).signatures["user_embedding"]
    rows = len(inputs["query_timestamp"])
    parts = [
        signature(**{k: tf.constant(v[s : s + batch]) for k, v in inputs.items()})["embedding"].numpy()
        for s in range(0, rows, batch)
    ]
    return np.concatenate(parts)


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    points = centres[rng.integers(clusters, size=n)] + 0.6 * rng.normal(size=(n, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def timed_search(layer, queries: np.ndarray, batch: int, repeats: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Best-of-`repeats` seconds to search every query in batches, and the [C, K] scores and identifiers."""
    best, parts = np.inf, []
    for _ in range(repeats):
        start = time.perf_counter()
        parts = [layer(tf.constant(queries[s : s + batch]), k=K) for s in range(0, len(queries), batch)]
        parts = [(scores.numpy(), ids.numpy()) for scores, ids in parts]
        best = min(best, time.perf_counter() - start)
    return best, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def measure(scann, brute, queries: np.ndarray, embeddings: np.ndarray, timing: Timing) -> dict:
    """ScaNN against brute force for `queries` [C, d] over `embeddings` [n, d]: recall@10 (and a tie-aware
    recall: a found movie counts when its exact score is within NEAR_TIE of the exact 10th best), batched
    times and single-query latencies."""
    for layer in (scann, brute):  # warm-up: tracing, thread pools
        layer(tf.constant(queries[: timing.search_batch]), k=K)
    brute_s, exact_scores, exact = timed_search(brute, queries, timing.search_batch, timing.repeats)
    scann_s, _, found = timed_search(scann, queries, timing.search_batch, timing.repeats)
    recall = np.mean([len(set(a) & set(b)) / K for a, b in zip(found, exact, strict=True)])
    found_exact = np.einsum("cd,ckd->ck", queries, embeddings[found - 1])
    near = np.mean(found_exact >= exact_scores[:, -1:] - NEAR_TIE)
    report: dict = {
        "queries": len(queries),
        "recall@10": round(float(recall), 4),
        "recall@10_within_1e-3": round(float(near), 4),
        "distinct_exact_top10_movies": len(np.unique(exact)),  # how varied the answers are
        "median_score_gap_1st_to_10th": round(float(np.median(exact_scores[:, 0] - exact_scores[:, -1])), 4),
        "batched": {
            "batch": timing.search_batch,
            "brute_force_s": round(brute_s, 3),
            "scann_s": round(scann_s, 3),
            "brute_force_qps": round(len(queries) / brute_s),
            "scann_qps": round(len(queries) / scann_s),
            "speedup": round(brute_s / scann_s, 2),
        },
    }
    for name, layer in (("scann", scann), ("brute_force", brute)):
        seconds = []
        for q in queries[: timing.latency_queries]:
            start = time.perf_counter()
            layer(tf.constant(q[None]), k=K)[1].numpy()
            seconds.append(time.perf_counter() - start)
        report[f"single_query_{name}"] = percentiles(seconds)
    return report


def compare_indexes(
    embeddings: np.ndarray, query_sets: dict[str, np.ndarray], params: ScannParams, timing: Timing
) -> dict:
    """ScaNN vs brute force (both TFRS layers) over `embeddings` [n, d] (identifiers 1..n), per query set."""
    import tensorflow_recommenders as tfrs

    n = len(embeddings)
    used = params.for_catalog(n)
    start = time.perf_counter()
    scann = scann_layer(embeddings, np.arange(1, n + 1, dtype=np.int32), used, K)
    build_seconds = time.perf_counter() - start
    brute = tfrs.layers.factorized_top_k.BruteForce(k=K)
    brute.index(tf.constant(embeddings), identifiers=tf.range(1, n + 1))
    report: dict = {
        "movies": n,
        "dim": embeddings.shape[1],
        "scann": {f.name: getattr(used, f.name) for f in dataclasses.fields(ScannParams)},
        "scann_build_s": round(build_seconds, 2),
    }
    for name, queries in query_sets.items():
        report[name] = measure(scann, brute, queries, embeddings, timing)
    return report


def signature_latency(export_dir: Path, inputs: dict[str, np.ndarray], count: int) -> dict:
    """p50 / p99 of the exported `recommend` signature, one query at a time, for both SavedModels."""
    out = {}
    for index in ("scann", "brute_force"):
        signature = tf.saved_model.load(str(saved_model_path(export_dir, index))).signatures["recommend"]
        available = len(next(iter(inputs.values())))
        rows = [{k: tf.constant(v[r : r + 1]) for k, v in inputs.items()} for r in range(min(count, available))]
        signature(**rows[0])
        seconds = []
        for row in rows:
            start = time.perf_counter()
            signature(**row)["movie_ids"].numpy()
            seconds.append(time.perf_counter() - start)
        out[f"recommend_signature_{index}"] = percentiles(seconds)
    return out


def full_size_export(
    prepared_dir: Path, work_dir: Path, config: ExportConfig, train_steps: int
) -> tuple[Path, dataset.Prepared]:
    """A short model trained on a prepared full-size release and its export (both reused when present)."""
    from pipelines.training.config import InputConfig, RunConfig, TrainConfig
    from pipelines.training.loop import train
    from towers.config import GenomeConfig

    prepared = dataset.load(prepared_dir)
    model_dir, export_dir = work_dir / "model", work_dir / "export"
    if not (model_dir / "metrics.json").exists():
        run = RunConfig(
            input=InputConfig(batch_size=1024),
            genome=GenomeConfig(genome_encoder="pca", bottleneck=64),
            train=TrainConfig(model_dir=str(model_dir), epochs=1, steps_per_epoch=train_steps, export=False),
        )
        train(prepared, run)
        # The data is a prepared folder, not a release: note it where prepared_of looks (RunConfig ignores it).
        config_path = model_dir / "config.json"
        config = json.loads(config_path.read_text())
        config["prepare"]["prepared_dir"] = str(prepared_dir)
        config_path.write_text(json.dumps(config))
    if not (export_dir / "manifest.json").exists():
        export_model(model_dir, export_dir, config, prepared=prepared)
    return export_dir, prepared


def prepared_of(model_config: dict) -> dataset.Prepared:
    """The data of an export's model: its prepare configuration, or the prepared folder full_size_export used."""
    from export.build import load_prepared
    from pipelines.training.config import RunConfig

    folder = model_config["prepare"].get("prepared_dir")
    return dataset.load(Path(folder)) if folder else load_prepared(RunConfig.from_json(model_config))


def summary(report: dict) -> str:
    lines = [report["catalog"]]
    for name in ("user_queries", "movie_queries", "clustered_queries"):
        if name not in report:
            continue
        r, b = report[name], report[name]["batched"]
        lines.append(
            f"{name}: {r['queries']:,}, recall@10 {r['recall@10']:.4f} (target >= 0.95; within {NEAR_TIE} of the"
            f" 10th score: {r['recall@10_within_1e-3']:.4f}); batched ScaNN {b['scann_s']} s"
            f" vs brute force {b['brute_force_s']} s = {b['speedup']}x (target >= 5x at 86.5k movies); single query"
            f" p50/p99 ms ScaNN {r['single_query_scann']['p50_ms']}/{r['single_query_scann']['p99_ms']}, brute"
            f" force {r['single_query_brute_force']['p50_ms']}/{r['single_query_brute_force']['p99_ms']}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    config = cli.config_from_flags(ExportConfig)
    timing = Timing(FLAGS.search_batch, FLAGS.repeats, FLAGS.latency_queries)
    rng = np.random.default_rng(0)
    count = FLAGS.queries or 20_000
    if FLAGS.clustered:
        embeddings = clustered(FULL_MOVIES, FULL_DIM, 500, 0)
        queries = {"clustered_queries": clustered(count, FULL_DIM, 500, 1)}
        report = {
            "catalog": f"FALLBACK: random clustered unit vectors {FULL_MOVIES:,} x {FULL_DIM}, not a model",
            **compare_indexes(embeddings, queries, config, timing),
        }
    else:
        if FLAGS.prepared_dir:
            export_dir, prepared = full_size_export(
                Path(FLAGS.prepared_dir), Path(FLAGS.work_dir), config, FLAGS.train_steps
            )
        else:
            export_dir = Path(FLAGS.export_dir or Path(FLAGS.model_dir) / "export")
            prepared = prepared_of(json.loads((export_dir / "manifest.json").read_text())["model_config"])
        manifest = json.loads((export_dir / "manifest.json").read_text())
        cases = prepared.split.val
        inputs = raw_queries(cases, prepared.catalog.movie_ids, int(manifest["history_length"]))
        if count < len(cases):
            keep = np.sort(rng.choice(len(cases), count, replace=False))
            inputs = {k: v[keep] for k, v in inputs.items()}
        embeddings = np.load(export_dir / artifacts.EMBEDDINGS_NPY)[1:]
        movies = rng.choice(len(embeddings), min(count, len(embeddings)), replace=False)
        queries = {"user_queries": embed_queries(export_dir, inputs), "movie_queries": embeddings[movies]}
        report = {
            "catalog": f"export {export_dir} ({manifest['num_movies']:,} movies): validation users and movies",
            **compare_indexes(embeddings, queries, config, timing),
            **signature_latency(export_dir, inputs, min(FLAGS.latency_queries, 300, len(cases))),
        }
    print(json.dumps(report))
    print(summary(report))


if __name__ == "__main__":
    cli.define_all_flags()
    flags.DEFINE_string("prepared_dir", None, "A prepared-data cache folder of a full-size release (see docstring).")
    flags.DEFINE_string("work_dir", "/tmp/retrieval-benchmark", "Where --prepared_dir's model and export go.")
    flags.DEFINE_integer("train_steps", 300, "Training steps of the --prepared_dir model (one epoch).")
    flags.DEFINE_bool("clustered", False, "Benchmark random clustered 86,537 x 64 embeddings instead of a model.")
    flags.DEFINE_integer("queries", 0, "Queries of each kind (0 = 20,000, or every validation case if fewer).")
    flags.DEFINE_integer("search_batch", 1024, "Queries per batched search call.")
    flags.DEFINE_integer("repeats", 3, "Batched timings keep the best of this many passes.")
    flags.DEFINE_integer("latency_queries", 1000, "Queries timed one at a time.")
    app.run(main)
