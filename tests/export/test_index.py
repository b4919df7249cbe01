"""export.index: exact search against NumPy, exclusion of approximate results, ScaNN recall on a catalog whose
neighbours are known by construction, and the parameters adapted to the catalog size."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from export.index import ScannParams, drop_excluded, exact_top_k, scann_layer


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    """Unit vectors around `clusters` random centres: a catalog with real neighbourhood structure."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    points = centres[rng.integers(clusters, size=n)] + 0.5 * rng.normal(size=(n, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def test_exact_top_k_matches_numpy_with_exclusions() -> None:
    embeddings = np.concatenate([np.zeros((1, 8), np.float32), clustered(300, 8, 5, 0)])
    queries = clustered(7, 8, 5, 1)
    exclude = np.array([[1, 2, 0], [5, 0, 0], [0, 0, 0], [9, 10, 11], [3, 3, 3], [299, 300, 0], [4, 0, 7]], np.int32)
    values, indices = exact_top_k(tf.constant(queries), tf.constant(embeddings), tf.constant(exclude), 10)
    scores = queries @ embeddings.T
    scores[:, 0] = -np.inf
    for row, excluded in enumerate(exclude):
        scores[row, excluded[excluded > 0]] = -np.inf
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(indices.numpy(), expected)
    np.testing.assert_allclose(values.numpy(), np.take_along_axis(scores, expected, 1), rtol=1e-5)


def test_drop_excluded_keeps_the_best_remaining() -> None:
    scores = tf.constant([[0.9, 0.8, 0.7, 0.6, 0.5]])
    indices = tf.constant([[4, 7, 1, 9, 2]])
    values, kept = drop_excluded(scores, indices, tf.constant([[7, 0, 9]]), 3)
    assert kept.numpy().tolist() == [[4, 1, 2]] and values.numpy()[0].tolist() == pytest.approx([0.9, 0.7, 0.5])


def test_scann_reaches_the_recall_bar_searching_a_fraction_of_the_catalog() -> None:
    n, dim = 20_000, 32
    embeddings = clustered(n, dim, 50, 2)
    queries = clustered(200, dim, 50, 3)
    params = ScannParams(scann_num_leaves=100, scann_leaves_to_search=15, scann_reorder=100)
    layer = scann_layer(embeddings, np.arange(1, n + 1, dtype=np.int32), params, 10)
    _, found = layer(tf.constant(queries), k=10)
    exact = np.argsort(-(queries @ embeddings.T), axis=1)[:, :10] + 1
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.numpy(), exact, strict=True)])
    assert recall >= 0.95, recall


def test_parameters_adapt_to_the_catalog_and_are_checked() -> None:
    flags = ScannParams()  # the defaults, meant for 86.5k movies
    assert flags.for_catalog(86_537) == flags
    small = flags.for_catalog(5_000)
    assert small.scann_num_leaves == 50 and small.scann_leaves_to_search == 50  # below 8,000 movies: all leaves
    medium = flags.for_catalog(20_000)
    assert medium.scann_num_leaves == 200 and medium.scann_leaves_to_search == 80  # 8,000 of 20,000 movies
    tiny = flags.for_catalog(600)
    assert tiny.scann_num_leaves == 6 and tiny.scann_leaves_to_search == 6
    assert flags.for_catalog(50).scann_num_leaves == 1
    with pytest.raises(ValueError, match="reorder"):
        ScannParams(scann_reorder=100).validate(k=100)
    with pytest.raises(ValueError, match="leaves_to_search"):
        ScannParams(scann_num_leaves=10, scann_leaves_to_search=20).validate(k=10)
