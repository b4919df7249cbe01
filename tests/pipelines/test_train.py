"""`pipelines.train` end to end on the tiny synthetic release: outputs, reload, resume, over-fit."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import tf_keras as keras

from export.bundle import Export
from pipelines.data.prepared import PrepareConfig, build
from pipelines.data.split import group_by_user
from pipelines.evaluation import per_case
from pipelines.evaluation.evaluator import evaluate
from pipelines.training import callbacks, loop
from pipelines.training.config import InputConfig, RunConfig, TrainConfig
from pipelines.training.input import query_features, training_dataset
from pipelines.training.loop import check_compatible, member_run, train
from pipelines.training.model_dir import build_model, restore_model
from pipelines.training.recommender import TowerRecommender, load
from tests.conftest import run_module
from towers.config import GenomeConfig, TowerConfig
from towers.towers import MovieTables

ROOT = Path(__file__).resolve().parents[2]
FAST_GENOME = GenomeConfig(genome_encoder="pca", bottleneck=8)


@pytest.fixture(scope="module")
def prepared(tiny_release: Path):
    return build(tiny_release, PrepareConfig())


def run(prepared, model_dir: Path, hidden: int = 32, **overrides) -> dict:
    inputs = InputConfig(history_length=10, batch_size=128)
    towers = TowerConfig(embedding_dim=16, id_dim=16, hidden=hidden)
    config = TrainConfig(
        **{"model_dir": str(model_dir), "epochs": 2, "steps_per_execution": 4, "export": False, **overrides}
    )
    return train(prepared, RunConfig(input=inputs, towers=towers, genome=FAST_GENOME, train=config))


def test_train_writes_metrics_and_the_model_reloads_identically(prepared, tmp_path: Path) -> None:
    metrics = run(prepared, tmp_path / "model")
    for name in ("config.json", "tables.npz", "metrics.json"):
        assert (tmp_path / "model" / name).exists(), name
    assert not (tmp_path / "model" / "backup").exists()  # removed after a completed run
    assert metrics["epochs_run"] == 2 and len(metrics["history"]["val_recall@20"]) == 2
    assert "low" in metrics["test"]["overall"]["recall@20"]
    values = per_case.load(tmp_path / "model" / per_case.FILE)["two-tower"]  # the same figures case by case
    for window, cases in (("validation", prepared.split.val), ("test", prepared.split.test)):
        assert len(values[window]["recall@20"]) == len(cases)
        assert values[window]["ndcg@100"].mean() == pytest.approx(metrics[window]["overall"]["ndcg@100"]["mean"])
    reloaded = load(tmp_path / "model")
    num_movies, counts = prepared.catalog.num_movies, prepared.train_counts
    for window, cases in (("validation", prepared.split.val), ("test", prepared.split.test)):
        again = evaluate(reloaded, cases, num_movies, counts).overall["recall@20"]["mean"]  # the saved best weights
        assert metrics[window]["overall"]["recall@20"]["mean"] == pytest.approx(again, abs=1e-6), window
    model = restore_model(tmp_path / "model")
    again = TowerRecommender(model.query_tower, model.candidate_tower, prepared.catalog.num_movies, 10)
    np.testing.assert_allclose(reloaded.candidates, again.candidates, rtol=1e-6)
    events = list((tmp_path / "model" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard logs"


def test_interrupted_training_resumes_from_its_last_epoch(prepared, tmp_path: Path, monkeypatch) -> None:
    class Interrupt(Exception):
        pass

    original = callbacks.Throughput.on_epoch_end

    def stop_after_first_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise Interrupt

    monkeypatch.setattr(callbacks.Throughput, "on_epoch_end", stop_after_first_epoch)
    with pytest.raises(Interrupt):
        run(prepared, tmp_path / "model", epochs=3)
    assert (tmp_path / "model" / "backup").exists()
    monkeypatch.setattr(callbacks.Throughput, "on_epoch_end", original)
    with pytest.raises(ValueError, match="--hidden 32 -> 64"):  # its checkpoint holds 32-wide weights
        run(prepared, tmp_path / "model", epochs=3, hidden=64)
    metrics = run(prepared, tmp_path / "model", epochs=3)
    assert metrics["epochs_run"] == 2  # epochs 2 and 3 only: epoch 1 was restored from the backup


def test_a_tiny_model_over_fits_a_data_set_whose_answer_is_known(tmp_path: Path) -> None:
    """8 taste groups of 10 movies; every user rates only its group's movies. The best in-batch loss is
    about log(batch / groups) and each user's top 10 must be exactly its group's movies."""
    groups, per_group, users, per_user, batch = 8, 10, 64, 30, 64
    rng = np.random.default_rng(0)
    user_ids = np.repeat(np.arange(users), per_user)
    movies = np.concatenate([rng.choice(per_group, per_user) + 1 + (u % groups) * per_group for u in range(users)])
    stamps = np.arange(len(movies), dtype=np.int64) + 10**9
    train_rows = group_by_user(user_ids, movies.astype(np.int32), np.full(len(movies), 4.0, np.float32), stamps)
    n = groups * per_group
    tables = MovieTables(
        slots=np.arange(n + 1, dtype=np.int32),
        content=np.zeros((n + 1, 1), np.float32),
        year_buckets=np.zeros(n + 1, np.int32),
        title_tokens=np.zeros((n + 1, 1), np.int32),
    )
    keras.utils.set_random_seed(0)
    towers = TowerConfig(embedding_dim=16, id_dim=16, hidden=32, id_dropout=0.0)
    model = build_model(tables, towers, TrainConfig(learning_rate=0.02, temperature=0.1, steps_per_execution=1), None)
    dataset, steps = training_dataset(train_rows, InputConfig(history_length=10, batch_size=batch, chunk_length=0))
    history = model.fit(dataset, steps_per_epoch=steps, epochs=15, verbose=0).history["loss"]
    assert history[-1] < np.log(batch / groups) + 0.3 < np.log(batch), history  # from log(64) to ~log(8)
    recommender = TowerRecommender(model.query_tower, model.candidate_tower, n, 10)
    features = query_features(train_rows, np.full(users, 2 * 10**9), 10)
    scores = recommender.embed_features(features) @ recommender.candidates.T
    scores[:, 0] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :per_group]
    expected_group = (np.arange(users) % groups)[:, None]
    assert np.mean((top - 1) // per_group == expected_group) > 0.95


def test_members_apart_train_as_runs_of_their_own_and_join_side_by_side(prepared, tmp_path: Path, monkeypatch) -> None:
    """--members=2 --members_apart: each member is a one-member run of its own (seed 2 x seed + k, its own
    folder, batches and early stopping); the joined model embeds as the members concatenated, so its score is
    the sum of theirs, and its metrics are the joined model's. A rerun reuses the finished members."""
    model_dir = tmp_path / "model"
    run_config = RunConfig(
        input=InputConfig(history_length=10, batch_size=128, seed=1),
        towers=TowerConfig(embedding_dim=16, id_dim=16, hidden=32, members=2),
        genome=FAST_GENOME,
        train=TrainConfig(model_dir=str(model_dir), epochs=2, steps_per_execution=4, export=False, members_apart=True),
    )
    members = [member_run(run_config, k) for k in range(2)]
    assert [m.input.seed for m in members] == [2, 3] and all(m.towers.members == 1 for m in members)
    # the linear member's settings stay with the joined run: changing them reuses the finished members
    with_linear = dataclasses.replace(run_config, towers=dataclasses.replace(run_config.towers, linear_rank=8,
                                                                             linear_max_cases=7))  # fmt: skip
    assert [member_run(with_linear, k) for k in range(2)] == members
    assert [Path(m.train.model_dir) for m in members] == [model_dir / "members" / "0", model_dir / "members" / "1"]
    metrics = train(prepared, run_config)
    assert len(metrics["best_epoch"]) == 2 and len(metrics["history"]["members"]) == 2
    parts = [restore_model(Path(m.train.model_dir)) for m in members]
    assert all(json.loads((Path(m.train.model_dir) / "metrics.json").read_text())["epochs_run"] >= 1 for m in members)
    joined = restore_model(model_dir)
    movies = np.arange(1, prepared.catalog.num_movies + 1)
    candidates = np.concatenate([p.candidate_tower(movies).numpy() for p in parts], 1)
    np.testing.assert_allclose(joined.candidate_tower(movies).numpy(), candidates, rtol=1e-6)
    assert not np.allclose(candidates[:, :16], candidates[:, 16:], atol=1e-3)  # two different members
    features = query_features(prepared.split.train, np.full(len(prepared.split.train.offsets) - 1, 2 * 10**9), 10)
    features = {name: value[:20] for name, value in features.items()}
    queries = np.concatenate([p.query_tower(features).numpy() for p in parts], 1)
    np.testing.assert_allclose(joined.query_tower(features).numpy(), queries, rtol=1e-5, atol=1e-6)
    again = evaluate(load(model_dir), prepared.split.val, prepared.catalog.num_movies, prepared.train_counts)
    assert metrics["validation"]["overall"]["recall@20"]["mean"] == pytest.approx(again.overall["recall@20"]["mean"])

    def no_training(*args, **kwargs):
        raise AssertionError("a finished member was trained again")

    monkeypatch.setattr(loop, "fit", no_training)
    rerun = train(prepared, run_config)
    assert rerun["validation"]["overall"]["recall@20"] == metrics["validation"]["overall"]["recall@20"]


def test_cli_smoke_and_bad_flags(tiny_release: Path, tmp_path: Path) -> None:
    flagfile = tmp_path / "tiny.flags"
    flagfile.write_text(
        "\n".join(
            [
                f"--data_dir={tiny_release}",
                f"--cache_dir={tmp_path / 'cache'}",
                f"--model_dir={tmp_path / 'model'}",
                "--epochs=1",
                "--batch_size=128",
                "--history_length=8",
                "--embedding_dim=8",
                "--id_dim=8",
                "--hidden=16",
                "--genome_encoder=pca",
                "--bottleneck=4",
                "--steps_per_execution=4",
            ]
        )
        + "\n"
    )
    result = run_module("pipelines.train", f"--flagfile={flagfile}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "recall@20" in result.stdout and (tmp_path / "model" / "metrics.json").exists()
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["input"]["history_length"] == 8 and config["train"]["epochs"] == 1
    assert "Epoch 1/1" not in result.stdout and "regularization_loss" not in result.stdout  # one short line
    assert re.search(r"^epoch 1/1  loss \d+\.\d{4}  val recall@20 \d\.\d{4}\*", result.stdout, re.MULTILINE)
    assert f"metrics      {tmp_path / 'model' / 'metrics.json'}" in result.stdout and "export.query" in result.stdout
    assert not re.search(r"^I\d{4} |cuInit|oneDNN|Sharding callback|untraced functions", result.stderr, re.M)
    bad = run_module("pipelines.train", f"--flagfile={flagfile}", "--positives=all", "--data_dir=/nonexistent/folder")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: ")

    # A finished model is reused as it is, refused under other settings, and retrained only with --overwrite.
    stamp = (tmp_path / "model" / "metrics.json").stat().st_mtime_ns
    again = run_module("pipelines.train", f"--flagfile={flagfile}")
    assert again.returncode == 0 and "reusing it, nothing is retrained" in again.stdout, again.stderr[-2000:]
    assert (tmp_path / "model" / "metrics.json").stat().st_mtime_ns == stamp
    other = run_module("pipelines.train", f"--flagfile={flagfile}", "--learning_rate=0.01")
    assert other.returncode == 2 and "--learning_rate 0.003 -> 0.01" in other.stderr and "--overwrite" in other.stderr
    (tmp_path / "model" / "evaluation").mkdir()  # what pipelines.evaluate leaves: it goes with the old model
    fresh = run_module("pipelines.train", f"--flagfile={flagfile}", "--learning_rate=0.01", "--overwrite", "--noexport")
    assert fresh.returncode == 0 and "deleting the finished model" in fresh.stdout, fresh.stderr[-2000:]
    assert (tmp_path / "model" / "metrics.json").stat().st_mtime_ns != stamp
    assert not (tmp_path / "model" / "evaluation").exists() and not (tmp_path / "model" / "export").exists()


def test_a_finished_model_is_not_reused_on_changed_data(tiny_copy: Path, tmp_path: Path) -> None:
    args = [f"--data_dir={tiny_copy}", f"--cache_dir={tmp_path / 'cache'}", f"--model_dir={tmp_path / 'model'}",
            "--epochs=1", "--batch_size=128", "--history_length=8", "--embedding_dim=8", "--id_dim=8",
            "--hidden=16", "--genome_encoder=pca", "--bottleneck=4", "--noexport"]  # fmt: skip
    assert run_module("pipelines.train", *args).returncode == 0
    ratings = tiny_copy / "ratings.csv"
    lines = ratings.read_text().splitlines(keepends=True)
    ratings.write_text("".join(lines[:-1]))  # the same settings, one rating fewer
    again = run_module("pipelines.train", *args)
    assert again.returncode == 2 and "trained on other data" in again.stderr and "--overwrite" in again.stderr


def shrunk_flagfile_run(flagfile: str, release: Path, tmp_path: Path, *more: str) -> list[str]:
    """pipelines.train's arguments for configs/<flagfile> as a user runs it, sizes shrunk for the tiny release."""
    return [f"--flagfile={ROOT / 'configs' / flagfile}", f"--data_dir={release}", f"--cache_dir={tmp_path / 'cache'}",
            f"--model_dir={tmp_path / 'model'}", "--epochs=1", "--batch_size=128", "--embedding_dim=8", "--id_dim=8",
            "--hidden=16", "--genome_encoder=pca", "--bottleneck=4", *more]  # fmt: skip


def test_the_small_release_flagfile_trains_reloads_and_serves(tiny_release: Path, tmp_path: Path) -> None:
    """configs/ml-latest-small.flags as a user runs it (sizes shrunk for the tiny release): its pooling,
    release-age score and negatives train, the saved model scores as in training, and the export answers a query."""
    model_dir = tmp_path / "model"
    args = shrunk_flagfile_run("ml-latest-small.flags", tiny_release, tmp_path, "--history_length=12",
                               "--recent_length=4")  # fmt: skip
    result = run_module("pipelines.train", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((model_dir / "config.json").read_text())
    flags = (ROOT / "configs" / "ml-latest-small.flags").read_text()
    assert saved["towers"]["pooling"] in flags and saved["input"]["positives"] == "liked"
    assert ("--mask_history_negatives" in flags) == saved["train"]["mask_history_negatives"]
    assert ("--release_age" in flags) == saved["towers"]["release_age"]
    assert ("--nomask_future_negatives" in flags) != saved["train"]["mask_future_negatives"]
    assert f"--hide_new_ids={saved['input']['hide_new_ids']}" in flags
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert f"--linear_rank={saved['towers']['linear_rank']}" in flags and "linear_member" in metrics
    prepared = build(tiny_release, PrepareConfig())
    again = evaluate(load(model_dir), prepared.split.val, prepared.catalog.num_movies, prepared.train_counts)
    assert metrics["validation"]["overall"]["recall@20"]["mean"] == pytest.approx(again.overall["recall@20"]["mean"])
    liked = prepared.split.train.movies[prepared.split.train.ratings >= 4][:5]
    history = ",".join(f"{prepared.catalog.movie_ids[m]}:5" for m in liked)
    query = run_module("export.query", f"--model_dir={model_dir}", f"--history={history}", "--num_results=3")
    assert query.returncode == 0 and query.stdout.startswith("Top 3 for the given history"), query.stderr[-2000:]
    export = Export(model_dir / "export", index="brute_force")
    dim = export.manifest["movie_vector_dim"]
    assert export.manifest["embedding_dim"] > dim == 8  # the release-age code follows the movie vector
    similar = export.similar(int(prepared.catalog.movie_ids[1]), k=5)
    assert all(-1.0 - 1e-5 <= r.score <= 1.0 + 1e-5 for r in similar)  # cosines of unit movie vectors only
    bad = run_module("pipelines.train", *args, "--recent_length=12", "--overwrite", "--noexport")
    assert bad.returncode == 2 and "recent_length (12) below history_length (12)" in bad.stderr


def test_the_full_size_flagfile_trains_the_small_release_model(tiny_release: Path, tmp_path: Path) -> None:
    """configs/ml-latest.flags as a user runs it (sizes shrunk for the tiny release) trains the small-release
    flagfile's model (its targets, two-scale history, negatives, release-age score and linear member), and so
    does configs/ml-latest-gpu.flags."""
    model_dir = tmp_path / "model"
    args = shrunk_flagfile_run("ml-latest.flags", tiny_release, tmp_path, "--history_length=8", "--recent_length=4",
                               "--noexport")  # fmt: skip
    result = run_module("pipelines.train", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["towers"]["pooling"] == "two_scale" and saved["towers"]["release_age"]
    assert saved["input"]["positives"] == "liked" and saved["input"]["chunk_length"] == 0
    assert saved["train"]["mask_history_negatives"] and not saved["train"]["mask_future_negatives"]
    assert saved["input"]["hide_new_ids"] == 1 and saved["towers"]["id_dropout"] == 0
    assert saved["towers"]["cold_release_age"] and saved["towers"]["linear_max_cases"] == 5000
    assert "linear_member" in json.loads((model_dir / "metrics.json").read_text())
    model_flags = ("--positives=", "--chunk_length=", "--pooling=", "--history_length=", "--recent_length=",
                   "--mask_history_negatives", "--release_age", "--cold_release_age", "--nomask_future_negatives",
                   "--hide_new_ids=", "--id_dropout=")  # fmt: skip
    lines = {
        name: (ROOT / "configs" / name).read_text().splitlines()
        for name in ("ml-latest.flags", "ml-latest-gpu.flags", "ml-latest-small.flags")
    }
    full, gpu, small = ({line for line in lines[name] if line.startswith(model_flags)} for name in lines)
    assert full == gpu == small and len(full) == len(model_flags)
    assert {"--members=5", "--members_apart", "--linear_rank=1024"} <= set(lines["ml-latest-small.flags"])
    # the full-size ones keep one member and the member at rank 512 (time), chosen on a sample of validation cases
    for name in ("ml-latest.flags", "ml-latest-gpu.flags"):
        assert not any(line.startswith("--members") for line in lines[name])
        assert {"--linear_rank=512", "--linear_max_cases=5000"} <= set(lines[name])
    assert "recall@20" in json.loads((model_dir / "metrics.json").read_text())["validation"]["overall"]


@pytest.mark.parametrize(
    ("towers", "train_config", "message"),
    [
        (TowerConfig(cold_release_age=True), TrainConfig(), "needs release_age"),
        (TowerConfig(), TrainConfig(cold_negatives=8), "nomask_future_negatives"),
        (TowerConfig(), TrainConfig(cold_negatives=8, mask_future_negatives=False, catalog_negatives=8), "no --cat"),
        (TowerConfig(), TrainConfig(monitor="coverage@10"), "--monitor='coverage@10' is not a ranking metric"),
    ],
)
def test_settings_that_cannot_go_together_are_refused_before_any_work(towers, train_config, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_compatible(RunConfig(towers=towers, train=train_config))
    check_compatible(RunConfig(towers=TowerConfig(release_age=True, cold_release_age=True)))


@pytest.mark.parametrize("inputs", [InputConfig(hide_new_ids=1), InputConfig(hide_new_days=30)])
def test_the_full_softmax_with_targets_shown_as_never_rated_is_refused(inputs: InputConfig) -> None:
    with pytest.raises(ValueError, match="catalog_negatives=-1 needs --hide_new_ids=0"):
        check_compatible(RunConfig(input=inputs, train=TrainConfig(catalog_negatives=-1)))
    check_compatible(RunConfig(input=inputs, train=TrainConfig(catalog_negatives=256)))
    check_compatible(RunConfig(train=TrainConfig(catalog_negatives=-1)))
