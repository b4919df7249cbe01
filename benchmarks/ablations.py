"""Quality study: the default two-tower model, its ablations, the baselines and the planted ceiling.

    python -m benchmarks.ablations [--synthetic=small] [--work_dir=/tmp/ablations] [--only=name,...]

Every variant trains with the demo's settings (configs/demo.flags) but one change, and is scored by the
same evaluator on the same validation window (95% bootstrap intervals over cases). Baselines and the
planted oracle (what the generator's true factors achieve) are scored alongside.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from absl import app, flags, logging

from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.evaluation.baselines import registry as baselines
from pipelines.evaluation.evaluator import evaluate
from pipelines.evaluation.planted import HistoryTasteOracle, has_planted_truth, load_oracle
from pipelines.training.config import InputConfig, RunConfig, TrainConfig
from pipelines.training.loop import train
from towers.config import GenomeConfig, TowerConfig

FLAGS = flags.FLAGS
DEMO = {
    "input": InputConfig(batch_size=512),
    "towers": TowerConfig(),
    "genome": GenomeConfig(),
    "train": TrainConfig(epochs=10, patience=3),
}
VARIANTS = {
    "default (genome AE, weighted pooling, chunks of 8, logQ, future negatives masked, weighted positives)": {},
    "genome PCA instead of AE": {"genome": {"genome_encoder": "pca"}},
    "no genome": {"genome": {"genome_encoder": "none"}},
    "attention pooling (independent examples)": {"towers": {"pooling": "attention"}, "input": {"chunk_length": 0}},
    "independent examples instead of chunks": {"input": {"chunk_length": 0}},
    "chunks of 32": {"input": {"chunk_length": 32}},
    "future negatives kept": {"train": {"mask_future_negatives": False}},
    "logQ off": {"train": {"logq": False}},
    "positives: liked only (independent examples)": {"input": {"positives": "liked", "chunk_length": 0}},
    "positives: all, unweighted": {"input": {"positives": "all"}},
    "separate id embeddings per tower": {"towers": {"share_id_embedding": False}},
    "no content in history items": {"towers": {"use_content_in_history": False}},
    "tower MLPs 256 wide instead of 128": {"towers": {"hidden": 256}},
}
METRICS = ("recall@20", "ndcg@10", "recall@100")


def cell(overall: dict, name: str) -> str:
    value = overall[name]
    return f"{value['mean']:.4f} [{value['low']:.4f}, {value['high']:.4f}]"


def main(argv: list[str]) -> None:
    del argv
    logging.set_verbosity(logging.WARNING)
    prepared_config = PrepareConfig(synthetic=FLAGS.synthetic, cache_dir=FLAGS.cache_dir)
    prepared = prepare(prepared_config)
    n, cases, counts = prepared.catalog.num_movies, prepared.split.val, prepared.train_counts
    rows: dict[str, dict] = {}
    only = set(FLAGS.only.split(",")) if FLAGS.only else None
    for label, change in VARIANTS.items():
        if only and not any(o in label for o in only):
            continue
        configs = {k: dataclasses.replace(v, **change.get(k, {})) for k, v in DEMO.items()}
        configs["train"] = dataclasses.replace(configs["train"], model_dir=str(Path(FLAGS.work_dir) / str(len(rows))))
        metrics = train(prepared, RunConfig(prepare=prepared_config, **configs))
        rows[label] = {"overall": metrics["validation"]["overall"], "epochs": metrics["epochs_run"],
                       "genome": metrics["genome_encoder"].get("heldout_mse")}  # fmt: skip
        print(label, json.dumps({m: rows[label]["overall"][m]["mean"] for m in METRICS}), flush=True)
    config = baselines.BaselineConfig()
    others = [baselines.fit(name, prepared.split.train, n, prepared.split.t_val, config) for name in FLAGS.baselines]
    if has_planted_truth(prepared.figures.get("data_dir")):
        oracle = load_oracle(prepared.figures["data_dir"], prepared.catalog)
        others += [oracle, HistoryTasteOracle(oracle)]
    for recommender in others:
        rows[f"baseline: {recommender.name}"] = {
            "overall": evaluate(recommender, cases, n, counts, resamples=1000).overall
        }
    print(f"\n| method | {' | '.join(METRICS)} | epochs | genome held-out MSE |\n|---|{'---|' * (len(METRICS) + 2)}")
    for label, row in rows.items():
        genome = "" if row.get("genome") is None else f"{row['genome']:.4f}"
        print(
            f"| {label} | {' | '.join(cell(row['overall'], m) for m in METRICS)} | {row.get('epochs', '')} | {genome} |"
        )
    Path(FLAGS.work_dir).mkdir(parents=True, exist_ok=True)
    (Path(FLAGS.work_dir) / "ablations.json").write_text(json.dumps(rows, indent=2, default=float))


if __name__ == "__main__":
    flags.DEFINE_string("synthetic", "small", "Synthetic preset to study.")
    flags.DEFINE_string("cache_dir", "data/cache", "Cache of prepared data.")
    flags.DEFINE_string("work_dir", "/tmp/ablations", "Model directories and ablations.json.")
    flags.DEFINE_string("only", None, "Comma-separated substrings of variant labels to run (default all).")
    flags.DEFINE_list("baselines", ["popularity", "recent_popularity", "item_knn", "ease", "ials"], "Baselines.")
    app.run(main)
