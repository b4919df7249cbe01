import pipelines  # noqa: F401  (sets TensorFlow's environment before it is imported: Keras 2, quiet logs)
