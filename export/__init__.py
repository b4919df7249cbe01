import os

# TensorFlow Recommenders needs Keras 2 (tf-keras); this must be set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up notices (CPU features, no CUDA) are noise for the query and serving commands.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
