#!/usr/bin/env bash
# Fresh machine to a running main job, offline: a virtual environment in .venv, the package and its
# dev tools installed, then the demo flagfile (a synthetic MovieLens release generated on the fly).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
.venv/bin/python -m pipelines.prepare --flagfile=configs/demo.flags
