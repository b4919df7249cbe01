import os

# TensorFlow Recommenders needs Keras 2 (tf-keras); this must be set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
