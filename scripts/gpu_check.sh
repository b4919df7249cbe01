#!/usr/bin/env bash
# GPU device check (issue 6): install with CUDA, generate the ml-latest-sized synthetic release, train a
# bounded number of steps with the GPU flagfile, print examples/s and the validation figures.
# Runs in under 10 minutes on one H100-class GPU; prints what it measured and nothing it did not.
#   bash scripts/gpu_check.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-2000}"
out="${OUT:-/tmp/gpu-check}"
mkdir -p "$out"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,gpu]'
.venv/bin/python - <<'PY'
import os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import tensorflow as tf
print("GPUs:", tf.config.list_physical_devices("GPU"))
PY
nvidia-smi --query-gpu=name,memory.total --format=csv || true
if [ ! -f "$out/ml-synthetic-full/ratings.csv" ]; then
  .venv/bin/python -m pipelines.synthetic --out="$out/ml-synthetic-full" --preset=full --seed=0
fi
# The GPU flagfile's training settings, on the synthetic release, for a bounded number of steps.
.venv/bin/python -m pipelines.train --flagfile=configs/ml-latest-gpu.flags \
  --data_dir="$out/ml-synthetic-full" --cache_dir="$out/cache" --model_dir="$out/model" \
  --epochs=1 --steps_per_epoch="$steps" --export=false 2>&1 | tee "$out/train.log" | grep -vE "^(I|W)[0-9]{4}"
grep -o "examples_per_s: [0-9.]*" "$out/train.log" | tail -1
