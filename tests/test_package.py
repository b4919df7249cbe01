"""The package's entry points select Keras 2 before TensorFlow loads, as TFRS needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", ["pipelines", "towers", "export"])
def test_importing_a_package_selects_legacy_keras(package: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    code = f"import {package}, tensorflow as tf; print(tf.keras.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().startswith("tf_keras"), result.stdout  # Keras 2, not Keras 3
