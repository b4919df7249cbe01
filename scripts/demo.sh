#!/usr/bin/env bash
# Fresh machine to the main job, offline: a virtual environment in .venv, the package and its dev tools
# installed, then training with the demo flagfile (a synthetic MovieLens release generated on the fly):
# prepare -> genome autoencoder -> two-tower training with validation -> metrics -> export.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
.venv/bin/python -m pipelines.train --flagfile=configs/demo.flags
