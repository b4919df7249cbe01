"""export.build: the files of an export, the SavedModels' signatures, and their answers against the
in-process model (TowerRecommender + NumPy brute force, the evaluator's ranking: history excluded, ties
to the lower index), including in a fresh process."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from export import index as _scann_ops  # noqa: F401  (registers the ScaNN ops before loading)
from export.build import ExportConfig, export_model, saved_model_path
from pipelines.data.errors import DataError
from pipelines.data.prepared import PrepareConfig
from pipelines.data.split import Interactions
from pipelines.training import linear_member
from pipelines.training.config import InputConfig, RunConfig, TrainConfig
from pipelines.training.input import query_features
from pipelines.training.loop import train
from pipelines.training.model_dir import load_linear, read_config, restore_model, restore_towers
from pipelines.training.recommender import load
from tests.conftest import HISTORY_LENGTH, K, run_module
from towers.config import GenomeConfig, TowerConfig

ROOT = Path(__file__).resolve().parents[2]
CASES = 60
LINEAR_RANK = 8


@pytest.fixture(scope="module")
def cases(export_prepared) -> dict:
    """The first validation cases as raw-id arrays (history shuffled: the signature must sort it) and the
    in-process model's expected top-K (dense indices and the scores of every movie)."""
    val = export_prepared.split.val
    h, rows = val.history, min(CASES, len(val))
    end = int(h.offsets[rows])
    history = Interactions(
        h.user_ids[:rows], h.offsets[: rows + 1], h.movies[:end], h.ratings[:end], h.timestamps[:end]
    )
    return raw_cases(export_prepared.catalog.movie_ids, history, val.query_times[:rows], shuffle=True)


def raw_cases(movie_ids: np.ndarray, history: Interactions, query_times: np.ndarray, shuffle: bool) -> dict:
    width = max(int(history.lengths.max()), 1)
    rows = len(history)
    arrays = {
        "history_movie_ids": np.zeros((rows, width), np.int64),
        "history_ratings": np.zeros((rows, width), np.float32),
        "history_timestamps": np.zeros((rows, width), np.int64),
    }
    rng = np.random.default_rng(0)
    for r in range(rows):
        movies, ratings, stamps = history.row(r)
        order = rng.permutation(len(movies)) if shuffle else np.arange(len(movies))
        arrays["history_movie_ids"][r, : len(movies)] = movie_ids[movies[order]]
        arrays["history_ratings"][r, : len(movies)] = ratings[order]
        arrays["history_timestamps"][r, : len(movies)] = stamps[order]
    arrays["query_timestamp"] = np.asarray(query_times, np.int64)
    return {"inputs": arrays, "history": history}


def expected_scores(trained_model: Path, case: dict) -> np.ndarray:
    """[B, n + 1] in-process scores with padding and history at -inf (the evaluator's masking)."""
    recommender = load(trained_model)
    history = case["history"]
    features = query_features(history, case["inputs"]["query_timestamp"], HISTORY_LENGTH)
    scores = recommender.embed_features(features) @ recommender.candidates.T
    scores[:, 0] = -np.inf
    for r in range(len(history)):
        scores[r, history.row(r)[0]] = -np.inf
    return scores


def assert_same_top_k(got_dense: np.ndarray, got_scores: np.ndarray, scores: np.ndarray) -> None:
    """Same top-K as a stable sort of `scores`, up to swaps of movies whose scores tie within float32
    rounding (2e-5: a members' model sums several dot products)."""
    expected = np.argsort(-scores, axis=1, kind="stable")[:, : got_dense.shape[1]]
    rows = np.arange(len(scores))[:, None]
    np.testing.assert_allclose(got_scores, scores[rows, got_dense], atol=2e-5)
    differs = got_dense != expected
    np.testing.assert_allclose(scores[rows, got_dense][differs], scores[rows, expected][differs], atol=2e-5)


def call(model, name: str, inputs: dict) -> dict:
    return {k: v.numpy() for k, v in model.signatures[name](**{n: tf.constant(a) for n, a in inputs.items()}).items()}


def test_export_writes_every_artifact(export_dir: Path, export_prepared) -> None:
    n = export_prepared.catalog.num_movies
    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert manifest["num_movies"] == n and manifest["k"] == K and manifest["history_length"] == HISTORY_LENGTH
    assert manifest["versions"]["tensorflow"].startswith("2.20") and manifest["versions"]["scann"] == "1.4.2"
    assert len(manifest["data"]["content_hash"]) == 24
    trained = json.loads((Path(manifest["model_dir"]) / "metrics.json").read_text())
    assert manifest["metrics"]["validation"]["recall@20"] == trained["validation"]["overall"]["recall@20"]["mean"]
    assert manifest["scann"]["scann_num_leaves"] == 6  # 600 movies: at least 100 a leaf
    movies = (export_dir / "movies.csv").read_text().splitlines()
    assert len(movies) == n + 1 and movies[0].startswith("dense_index,movie_id,title")
    embeddings = np.load(export_dir / "embeddings/movie_embeddings.npy")
    assert embeddings.shape == (n + 1, 16) and not embeddings[0].any()
    np.testing.assert_allclose(np.linalg.norm(embeddings[1:], axis=1), 1.0, atol=1e-4)
    ids = (export_dir / "vocabularies/movie_ids.txt").read_text().split()
    assert [int(i) for i in ids] == export_prepared.catalog.movie_ids[1:].tolist()
    assert len((export_dir / "vocabularies/history_movie_ids.txt").read_text().split()) == int(
        (export_prepared.train_counts[1:] > 0).sum()
    )
    tags = json.loads((export_dir / "genome_top_tags.json").read_text())
    assert len(tags) == int(export_prepared.catalog.has_genome.sum()) and len(next(iter(tags.values()))) == 5
    assert not [p for p in export_dir.parent.iterdir() if p.name.startswith(".export")]  # temp folder renamed
    assert b"Scann" in (export_dir / "saved_model/scann/saved_model.pb").read_bytes()
    assert b"Scann" not in (export_dir / "saved_model/brute_force/saved_model.pb").read_bytes()


def test_projector_files_label_every_movie(export_dir: Path, export_prepared) -> None:
    projector = export_dir / "projector"
    config = (projector / "projector_config.pbtxt").read_text()
    assert 'metadata_path: "metadata.tsv"' in config and "movie_embeddings" in config
    lines = (projector / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "title\tyear\tgenres\tmovie_id" and len(lines) == export_prepared.catalog.num_movies + 1
    assert all(line.count("\t") == 3 for line in lines)
    reader = tf.train.load_checkpoint(str(projector))
    stored = reader.get_tensor("movie_embeddings/.ATTRIBUTES/VARIABLE_VALUE")
    np.testing.assert_array_equal(stored, np.load(export_dir / "embeddings/movie_embeddings.npy")[1:])
    assert list(projector.glob("events.out.tfevents.*")), "no event file: TensorBoard would not list the run"


@pytest.mark.parametrize("index", ["brute_force", "scann"])
def test_signatures_shapes_and_dtypes(export_dir: Path, index: str) -> None:
    model = tf.saved_model.load(str(saved_model_path(export_dir, index)))
    assert set(model.signatures) == {
        "serving_default",
        "recommend",
        "user_embedding",
        "movie_embedding",
        "similar_movies",
    }
    specs = model.signatures["recommend"].structured_input_signature[1]
    assert {n: (s.dtype, s.shape.as_list()) for n, s in specs.items()} == {
        "history_movie_ids": (tf.int64, [None, None]),
        "history_ratings": (tf.float32, [None, None]),
        "history_timestamps": (tf.int64, [None, None]),
        "query_timestamp": (tf.int64, [None]),
    }
    outputs = model.signatures["recommend"].structured_outputs
    assert outputs["movie_ids"].dtype == tf.int64 and outputs["movie_ids"].shape.as_list() == [None, K]
    assert outputs["scores"].dtype == tf.float32 and outputs["scores"].shape.as_list() == [None, K]
    assert model.signatures["user_embedding"].structured_outputs["embedding"].shape.as_list() == [None, 16]
    assert model.signatures["movie_embedding"].structured_input_signature[1]["movie_ids"].dtype == tf.int64
    assert model.signatures["similar_movies"].structured_outputs["movie_ids"].shape.as_list() == [None, K]
    empty = model.signatures["recommend"](  # an empty batch is an empty answer, not an error
        history_movie_ids=tf.zeros([0, 3], tf.int64), history_ratings=tf.zeros([0, 3]),
        history_timestamps=tf.zeros([0, 3], tf.int64), query_timestamp=tf.zeros([0], tf.int64),
    )  # fmt: skip
    assert empty["movie_ids"].shape == (0, K) and empty["scores"].shape == (0, K)


@pytest.mark.parametrize("index", ["brute_force", "scann"])
def test_recommend_matches_the_in_process_model(export_dir, trained_model, export_prepared, cases, index) -> None:
    model = tf.saved_model.load(str(saved_model_path(export_dir, index)))
    out = call(model, "recommend", cases["inputs"])
    got = export_prepared.catalog.index_of(out["movie_ids"])
    scores = expected_scores(trained_model, cases)
    if index == "brute_force":
        assert_same_top_k(got, out["scores"], scores)
    exact = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    recall = np.mean([len(set(got[r, :10]) & set(exact[r])) / 10 for r in range(len(got))])
    assert recall >= 0.95, recall  # the ScaNN bar (issue 5)
    for r in range(len(got)):
        assert not set(got[r]) & set(cases["history"].row(r)[0].tolist()), "a history movie was recommended"
    assert (got > 0).all()


@pytest.fixture(scope="module")
def flagfile_model(export_prepared, tiny_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real-release flagfiles' model (two-scale history, release age with the never-rated movies' own
    code, first ratings shown as new, members side by side, a linear member at a fixed weight), small,
    trained one epoch on the tiny release."""
    model_dir = tmp_path_factory.mktemp("flagfile_export") / "model"
    towers = TowerConfig(embedding_dim=16, id_dim=16, hidden=32, pooling="two_scale", recent_length=4,
                         id_dropout=0.0, release_age=True, cold_release_age=True, members=2,
                         linear_rank=LINEAR_RANK)  # fmt: skip
    run = RunConfig(
        prepare=PrepareConfig(data_dir=str(tiny_release), cache_dir=str(model_dir.parent / "cache")),
        input=InputConfig(
            history_length=HISTORY_LENGTH, batch_size=128, positives="liked", chunk_length=0, hide_new_ids=1
        ),
        towers=towers,
        genome=GenomeConfig(genome_encoder="pca", bottleneck=8),
        train=TrainConfig(
            model_dir=str(model_dir),
            epochs=1,
            steps_per_execution=4,
            export=False,
            mask_history_negatives=True,
            mask_future_negatives=False,
        ),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(linear_member, "SCALES", (1.0,))  # whatever validation would choose: the member is there
        train(export_prepared, run)
    return model_dir


def test_the_flagfile_model_exports_its_members_and_the_cold_age_code(flagfile_model, export_prepared, cases) -> None:
    """The export serves the members, their release-age columns and the linear member as trained: the same
    top-K as the in-process model, in each member a never-rated movie's embedding carries the cold code, a
    rated one's the other, and the linear member's columns follow the members'."""
    export = export_model(flagfile_model, None, ExportConfig(k=K), prepared=export_prepared)
    scores = expected_scores(flagfile_model, cases)
    for index in ("brute_force", "scann"):
        model = tf.saved_model.load(str(saved_model_path(export, index)))
        out = call(model, "recommend", cases["inputs"])
        got = export_prepared.catalog.index_of(out["movie_ids"])
        if index == "brute_force":
            assert_same_top_k(got, out["scores"], scores)
        exact = np.argsort(-scores, axis=1, kind="stable")[:, :10]
        assert np.mean([len(set(got[r, :10]) & set(exact[r])) / 10 for r in range(len(got))]) >= 0.95
    cold = np.flatnonzero(export_prepared.train_counts[1:] == 0) + 1
    warm = np.flatnonzero(export_prepared.train_counts[1:] > 0) + 1
    assert len(cold) and len(warm)
    tower = restore_model(flagfile_model, read_config(flagfile_model)).candidate_tower
    movies = tf.constant(np.concatenate([cold[:3], warm[:3]]), tf.int32)
    assert len(tower.members) == 2
    for member in tower.members:
        ages = member(movies).numpy()[:, 16:]
        years = member.years(movies)
        np.testing.assert_allclose(ages[:3], member.cold_release_age(years).numpy()[:3], rtol=1e-6)
        np.testing.assert_allclose(ages[3:], member.release_age(years).numpy()[3:], rtol=1e-6)
        assert not np.allclose(member.cold_release_age.values.numpy(), member.release_age.values.numpy())
    np.testing.assert_allclose(tower(movies), np.concatenate([m(movies) for m in tower.members], 1), rtol=1e-6)
    served = restore_towers(flagfile_model)[1](movies).numpy()
    factors = load_linear(flagfile_model)
    np.testing.assert_allclose(served, np.concatenate([tower(movies), factors.right[factors.rows[movies]]], 1),
                               rtol=1e-6)  # fmt: skip
    assert served.shape[1] == tower(movies).shape[1] + LINEAR_RANK
    ids = export_prepared.catalog.movie_ids[movies.numpy()]
    exported = call(model, "movie_embedding", {"movie_ids": ids.astype(np.int64)})["embedding"]
    np.testing.assert_allclose(exported, served, atol=1e-6)


def test_long_histories_take_the_exact_path_and_stay_excluded(export_dir, export_prepared) -> None:
    """More history than ScaNN's reorder budget (500 - K): the signature falls back to exact search."""
    n = export_prepared.catalog.num_movies
    ids = export_prepared.catalog.movie_ids
    inputs = {
        "history_movie_ids": ids[None, 1:491].astype(np.int64),
        "history_ratings": np.full((1, 490), 4.0, np.float32),
        "history_timestamps": np.arange(490, dtype=np.int64)[None] + 10**9,
        "query_timestamp": np.array([2 * 10**9]),
    }
    results = {
        index: call(tf.saved_model.load(str(saved_model_path(export_dir, index))), "recommend", inputs)
        for index in ("scann", "brute_force")
    }
    np.testing.assert_array_equal(results["scann"]["movie_ids"], results["brute_force"]["movie_ids"])
    assert set(results["scann"]["movie_ids"][0].tolist()) <= set(ids[491:].tolist()) and n - 490 >= K


def test_unknown_ids_are_padding_and_order_does_not_matter(export_dir, cases, export_prepared) -> None:
    model = tf.saved_model.load(str(saved_model_path(export_dir, "scann")))
    inputs = {k: v[:8] for k, v in cases["inputs"].items()}
    base = call(model, "recommend", inputs)
    noisy = {k: np.concatenate([v, np.zeros((8, 3), v.dtype)], axis=1) if v.ndim == 2 else v for k, v in inputs.items()}
    absent = int(export_prepared.catalog.movie_ids.max()) + 1
    noisy["history_movie_ids"][:, -3:] = [[-7, 10**12, absent]]  # not in the catalog
    noisy["history_ratings"][:, -3:] = 5.0
    np.testing.assert_array_equal(call(model, "recommend", noisy)["movie_ids"], base["movie_ids"])
    reversed_inputs = {k: v[:, ::-1].copy() if v.ndim == 2 else v for k, v in inputs.items()}
    np.testing.assert_array_equal(call(model, "recommend", reversed_inputs)["movie_ids"], base["movie_ids"])
    unknown = np.array([10**12, -1], np.int64)
    assert not call(model, "movie_embedding", {"movie_ids": unknown})["embedding"].any()
    similar = call(model, "similar_movies", {"movie_ids": unknown})
    assert not similar["movie_ids"].any() and not similar["scores"].any()


def test_similar_movies_excludes_the_movie_and_agrees_with_brute_force(export_dir, export_prepared) -> None:
    embeddings = np.load(export_dir / "embeddings/movie_embeddings.npy")
    ids = export_prepared.catalog.movie_ids[1:41].astype(np.int64)
    model = tf.saved_model.load(str(saved_model_path(export_dir, "brute_force")))
    out = call(model, "similar_movies", {"movie_ids": ids})
    scores = embeddings[1:41] @ embeddings.T
    scores[:, 0] = -np.inf
    scores[np.arange(40), np.arange(1, 41)] = -np.inf
    assert_same_top_k(export_prepared.catalog.index_of(out["movie_ids"]), out["scores"], scores)
    approximate = call(
        tf.saved_model.load(str(saved_model_path(export_dir, "scann"))), "similar_movies", {"movie_ids": ids}
    )
    assert not (approximate["movie_ids"] == ids[:, None]).any()
    overlap = np.mean(
        [len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(approximate["movie_ids"], out["movie_ids"], strict=True)]
    )
    assert overlap >= 0.95


def test_a_fresh_process_loads_the_export_and_gives_the_same_top_k(
    export_dir, trained_model, cases, tmp_path, export_prepared
) -> None:
    np.savez(tmp_path / "inputs.npz", **cases["inputs"])
    script = (  # brute force first, before ScaNN is imported: it must need stock TensorFlow ops only
        "import sys, numpy as np, tensorflow as tf\n"
        "inputs = dict(np.load(sys.argv[2]))\n"
        "out = {}\n"
        "for index in ('brute_force', 'scann'):\n"
        "    if index == 'scann':\n"
        "        assert 'scann' not in sys.modules\n"
        "        import scann  # registers the ScaNN ops: all that loading the ScaNN SavedModel needs\n"
        "    model = tf.saved_model.load(f'{sys.argv[1]}/saved_model/{index}')\n"
        "    result = model.signatures['recommend'](**{k: tf.constant(v) for k, v in inputs.items()})\n"
        "    out.update({f'{index}_{k}': v.numpy() for k, v in result.items()})\n"
        "np.savez(sys.argv[3], **out)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(export_dir), str(tmp_path / "inputs.npz"), str(tmp_path / "out.npz")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    scores = expected_scores(trained_model, cases)
    got = export_prepared.catalog.index_of(out["brute_force_movie_ids"])
    assert_same_top_k(got, out["brute_force_scores"], scores)
    scann = export_prepared.catalog.index_of(out["scann_movie_ids"])
    assert np.mean([len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(scann, got, strict=True)]) >= 0.95


def test_export_refuses_bad_input(trained_model: Path, export_prepared, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a trained model"):
        export_model(tmp_path, tmp_path / "out", prepared=export_prepared)
    with pytest.raises(ValueError, match="--k must be"):
        export_model(trained_model, tmp_path / "out", ExportConfig(k=600), prepared=export_prepared)
    with pytest.raises(ValueError, match="--scann_reorder"):
        export_model(trained_model, tmp_path / "out", ExportConfig(k=50, scann_reorder=20), prepared=export_prepared)
    assert not (tmp_path / "out").exists()
    other = Path(shutil.copytree(trained_model, tmp_path / "model"))
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "data_fingerprint": "trained-on-this"}))
    elsewhere = dataclasses.replace(export_prepared, figures={**export_prepared.figures, "fingerprint": "other"})
    with pytest.raises(DataError, match="trained on other data"):
        export_model(other, tmp_path / "out", prepared=elsewhere)


def test_cli_replaces_an_existing_export(trained_model: Path, tmp_path: Path) -> None:
    """`python -m export.build` prepares the data from the model's config.json and swaps the folder whole."""
    out = tmp_path / "export"
    out.mkdir()
    (out / "stale.txt").write_text("from an earlier export")
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [f"--model_dir={trained_model}", f"--export_dir={out}"]
    result = run_module("export.build", *command, "--k=5", env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["k"] == 5
    assert not (out / "stale.txt").exists() and json.loads((out / "manifest.json").read_text())["k"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no temporary or old folder left
    bad = run_module("export.build", *command, "--k=0", env=env, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: --k must be in 1..")
    assert json.loads((out / "manifest.json").read_text())["k"] == 5  # the failed run left the export alone
