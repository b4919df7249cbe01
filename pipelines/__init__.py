import os
import sys

# TensorFlow Recommenders needs Keras 2 (tf-keras); this must be set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up and runtime notices (no CUDA on a CPU box, CPU features, XLA) are noise for the
# user of these commands: hidden unless --verbosity asks for logs (see pipelines.cli.quiet_logs), or
# TF_CPP_MIN_LOG_LEVEL is set. Python errors still raise and are reported.
if not any(arg.startswith(("--verbosity", "-v")) for arg in sys.argv[1:]):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
