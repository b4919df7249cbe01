"""Tower shapes, the empty-history prior, out-of-vocabulary movies, and the loss's corrections."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from pipelines.training.config import TrainConfig
from pipelines.training.model_dir import build_model
from towers.config import TowerConfig, check_towers
from towers.retrieval import chunk_histories
from towers.towers import POPULARITY_FEATURES, MovieTables

MOVIES = 30


def tables(seen: int = 20) -> MovieTables:
    rng = np.random.default_rng(0)
    slots = np.zeros(MOVIES + 1, np.int32)
    slots[1 : seen + 1] = np.arange(1, seen + 1)  # movies seen - 30 were never rated before T_val
    return MovieTables(
        slots=slots,
        content=rng.normal(size=(MOVIES + 1, 7)).astype(np.float32),
        year_buckets=rng.integers(0, 5, MOVIES + 1).astype(np.int32),
        title_tokens=rng.integers(0, 9, (MOVIES + 1, 4)).astype(np.int32),
        years=rng.integers(1990, 2002, MOVIES + 1).astype(np.int32),
    )


def queries(batch: int = 4, length: int = 6) -> dict[str, tf.Tensor]:
    rng = np.random.default_rng(1)
    movies = rng.integers(1, MOVIES + 1, (batch, length)).astype(np.int32)
    movies[0] = 0  # an empty history
    return {
        "history_movies": tf.constant(movies),
        "history_ratings": tf.constant(rng.integers(1, 11, (batch, length)) / 2, tf.float32),
        "history_timestamps": tf.constant(rng.integers(10**9, 10**9 + 10**6, (batch, length)), tf.int64),
        "query_timestamp": tf.constant(np.full(batch, 10**9 + 2 * 10**6), tf.int64),
    }


def test_towers_give_unit_embeddings_of_the_configured_size() -> None:
    for pooling in ("weighted", "attention", "two_scale"):
        model = build_model(tables(), TowerConfig(embedding_dim=16, pooling=pooling), TrainConfig(), None)
        user = model.query_tower(queries()).numpy()
        movie = model.candidate_tower(tf.constant([1, 25, 30])).numpy()
        assert user.shape == (4, 16) and movie.shape == (3, 16)
        np.testing.assert_allclose(np.linalg.norm(user, axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(movie, axis=1), 1.0, rtol=1e-5)
        assert np.isfinite(user[0]).all()  # the empty history still gets an embedding (the prior)


def test_release_age_adds_the_time_and_age_codes_whose_product_is_the_learned_age_score() -> None:
    config = TowerConfig(embedding_dim=8, release_age=True)
    model = build_model(tables(), config, TrainConfig(), None)
    user = model.query_tower(queries()).numpy()
    movies = tf.constant([1, 25, 30])
    movie = model.candidate_tower(movies).numpy()
    slots = model.query_tower.time_code.slots
    assert user.shape == (4, 8 + slots) and movie.shape == (3, 8 + slots)
    np.testing.assert_allclose(user[:, 8:].sum(axis=1), 1.0, rtol=1e-5)  # interpolation weights
    release_age = model.candidate_tower.release_age
    release_age.values.assign(np.arange(len(release_age.values.numpy()), dtype=np.float32))
    scores = model.query_tower(queries()).numpy() @ model.candidate_tower(movies).numpy().T
    cosines = user[:, :8] @ movie[:, :8].T
    age_scores = user[:, 8:] @ model.candidate_tower(movies).numpy()[:, 8:].T
    np.testing.assert_allclose(scores, cosines + age_scores, rtol=1e-5)
    assert np.ptp(age_scores) > 0  # movies of other years get other scores
    with pytest.raises(ValueError, match="release years"):
        build_model(dataclasses.replace(tables(), years=None), config, TrainConfig(), None)


def test_cold_release_age_scores_the_movies_that_look_never_rated_by_a_code_of_their_own() -> None:
    config = TowerConfig(embedding_dim=8, release_age=True, cold_release_age=True)
    tower = build_model(tables(), config, TrainConfig(), None).candidate_tower
    tower.release_age.values.assign(np.full(len(tower.release_age.values.numpy()), 1.0, np.float32))
    tower.cold_release_age.values.assign(np.full(len(tower.release_age.values.numpy()), -2.0, np.float32))
    movies = tf.constant([1, 5, 25, 30])  # 25 and 30: nobody rated them before T_val
    ages = tower(movies).numpy()[:, 8:]
    np.testing.assert_allclose(ages, np.array([1.0, 1.0, -2.0, -2.0])[:, None] * np.ones_like(ages))
    marked = tower(movies, new=tf.constant([True, False, False, False])).numpy()[:, 8:]
    np.testing.assert_allclose(marked[0], -2.0)  # a training target shown as new looks never rated
    np.testing.assert_allclose(marked[1:], ages[1:])
    with pytest.raises(ValueError, match="needs release_age"):
        build_model(tables(), TowerConfig(embedding_dim=8, cold_release_age=True), TrainConfig(), None)


def test_hide_popularity_zeroes_the_popularity_columns_of_the_hidden_movies_only() -> None:
    keras.utils.set_random_seed(0)
    config = TowerConfig(embedding_dim=8, id_dropout=0.5, hide_popularity=True)
    tower = build_model(tables(), config, TrainConfig(), None).candidate_tower
    seen = tables().content.copy()
    seen[:, -POPULARITY_FEATURES:] = 0.0
    no_ids = np.zeros(MOVIES + 1, np.int32)
    no_ids[0] = tables().slots.max()  # the padding row keeps the id table's size; movies 1..20 get slot 0
    cold_looking = dataclasses.replace(tables(), slots=no_ids, content=seen)
    twin = build_model(cold_looking, TowerConfig(embedding_dim=8, id_dropout=0.0), TrainConfig(), None).candidate_tower
    for mine, theirs in zip(twin.trainable_weights, tower.trainable_weights, strict=True):
        mine.assign(theirs)  # the same towers; only the fixed tables (ids, popularity) differ
    movies = tf.constant(np.arange(1, 21), tf.int32)
    hidden = tower(movies, training=True).numpy()
    as_cold = twin(movies).numpy()
    as_warm = tower(movies).numpy()
    is_cold = np.isclose(hidden, as_cold, atol=1e-5).all(axis=1)
    is_warm = np.isclose(hidden, as_warm, atol=1e-5).all(axis=1)
    assert (is_cold | is_warm).all() and is_cold.any() and is_warm.any()  # each movie: wholly hidden or not


def test_popularity_given_to_the_candidate_tower_replaces_the_tables_columns() -> None:
    model = build_model(tables(), TowerConfig(embedding_dim=8), TrainConfig(), None)
    popularity = np.random.default_rng(2).normal(size=(3, POPULARITY_FEATURES)).astype(np.float32)
    movies = np.array([1, 5, 25])
    content = tables().content.copy()
    content[movies, -POPULARITY_FEATURES:] = popularity
    config = TowerConfig(embedding_dim=8)
    twin = build_model(dataclasses.replace(tables(), content=content), config, TrainConfig(), None)
    for mine, theirs in zip(twin.trainable_weights, model.trainable_weights, strict=True):
        mine.assign(theirs)
    given = model.candidate_tower(tf.constant(movies), popularity=tf.constant(popularity)).numpy()
    np.testing.assert_allclose(given, twin.candidate_tower(tf.constant(movies)).numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(given, model.candidate_tower(tf.constant(movies)).numpy(), atol=1e-4)


def test_movies_marked_new_look_as_a_never_rated_movie_and_the_others_as_themselves() -> None:
    model = build_model(tables(), TowerConfig(embedding_dim=8), TrainConfig(), None)
    tower = model.candidate_tower
    movies = tf.constant([1, 5, 25])
    new = tower(movies, new=tf.constant([True, False, False])).numpy()
    own = tower(movies).numpy()
    no_ids = np.zeros(MOVIES + 1, np.int32)
    no_ids[0] = tables().slots.max()  # the padding row keeps the id table's size
    content = tables().content.copy()
    content[:, -POPULARITY_FEATURES:] = 0.0
    cold_looking = dataclasses.replace(tables(), slots=no_ids, content=content)
    twin = build_model(cold_looking, TowerConfig(embedding_dim=8), TrainConfig(), None)
    for mine, theirs in zip(twin.trainable_weights, model.trainable_weights, strict=True):
        mine.assign(theirs)
    np.testing.assert_allclose(new[0], twin.candidate_tower(movies).numpy()[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new[1:], own[1:], rtol=1e-6)
    assert not np.allclose(new[0], own[0], atol=1e-4)


def test_unseen_movies_share_the_oov_id_but_keep_their_content() -> None:
    model = build_model(tables(), TowerConfig(embedding_dim=8), TrainConfig(), None)
    tower = model.candidate_tower
    assert tower.lookup["slots"](tf.constant([25, 30])).numpy().tolist() == [0, 0]
    movie = tower(tf.constant([25, 30])).numpy()
    assert not np.allclose(movie[0], movie[1])  # content tells two cold movies apart
    # Id dropout acts in training only.
    np.testing.assert_allclose(tower(tf.constant([3]), training=False), tower(tf.constant([3]), training=False))


def test_loss_is_finite_and_logq_changes_it() -> None:
    batch = {**queries(), "target": tf.constant([1, 2, 3, 4], tf.int32), "weight": tf.ones(4)}
    probability = np.full(MOVIES + 1, 1 / MOVIES, np.float32)
    probability[1] = 0.5
    keras.utils.set_random_seed(0)
    plain = build_model(tables(), TowerConfig(), TrainConfig(logq=False), probability)
    keras.utils.set_random_seed(0)
    same = build_model(tables(), TowerConfig(), TrainConfig(logq=False), probability)
    keras.utils.set_random_seed(0)
    corrected = build_model(tables(), TowerConfig(), TrainConfig(logq=True), probability)
    a, b, c = (float(m.compute_loss(batch)) for m in (plain, same, corrected))
    assert np.isfinite(a) and np.isfinite(c)
    assert a == b and a != c  # same initialisation; only the -log(p) correction differs


def test_future_negatives_leave_the_softmax() -> None:
    batch = {**queries(), "target": tf.constant([1, 2, 3, 4], tf.int32), "weight": tf.ones(4)}
    query_time = int(batch["query_timestamp"][0])
    first_rated = np.zeros(MOVIES + 1, np.int64)
    keras.utils.set_random_seed(0)
    unmasked = build_model(tables(), TowerConfig(), TrainConfig(), None, first_rated)
    first_rated[4] = query_time + 1  # movie 4 only appears after the other queries' time
    keras.utils.set_random_seed(0)
    masked = build_model(tables(), TowerConfig(), TrainConfig(), None, first_rated)

    q, c = masked.query_tower(batch).numpy(), masked.candidate_tower(batch["target"]).numpy()
    logits = q @ c.T / TrainConfig().temperature
    np.testing.assert_allclose(float(unmasked.compute_loss(batch)), _softmax_loss(logits), rtol=1e-5)
    logits[:3, 3] = -np.inf  # rows 0-2 cannot see movie 4 (row 3 keeps it: a positive always counts)
    np.testing.assert_allclose(float(masked.compute_loss(batch)), _softmax_loss(logits), rtol=1e-5)


def test_history_negatives_leave_the_softmax() -> None:
    batch = {**queries(), "target": tf.constant([1, 2, 3, 4], tf.int32), "weight": tf.ones(4)}
    movies = batch["history_movies"].numpy()
    movies[1:] = 9
    movies[2, 0] = 4  # query 2 has rated movie 4 (query 3's positive)
    movies[1, 0] = 2  # query 1 has rated its own positive: it still counts
    batch["history_movies"] = tf.constant(movies)
    keras.utils.set_random_seed(0)
    masked = build_model(tables(), TowerConfig(), TrainConfig(mask_history_negatives=True), None)
    q, c = masked.query_tower(batch).numpy(), masked.candidate_tower(batch["target"]).numpy()
    logits = q @ c.T / TrainConfig().temperature
    logits[2, 3] = -np.inf
    np.testing.assert_allclose(float(masked.compute_loss(batch)), _softmax_loss(logits), rtol=1e-5)


def test_chunk_histories_are_each_target_positions_band_of_the_context() -> None:
    context = tf.constant([[5, 6, 7]])
    band = tf.constant([[[True, False, False], [True, True, False]]])
    np.testing.assert_array_equal(chunk_histories(context, band).numpy(), [[5, 0, 0], [5, 6, 0]])


def _softmax_loss(logits: np.ndarray) -> float:
    """Mean in-batch softmax cross-entropy with the diagonal as the positives."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(np.diag(log_softmax)))


def test_history_items_are_the_id_embedding_plus_the_content_projection() -> None:
    model = build_model(tables(), TowerConfig(embedding_dim=8), TrainConfig(), None)
    tower = model.query_tower
    movies = tf.constant([[3, 5, 3, 0], [5, 7, 0, 0]], tf.int32)
    expected = tower.id_embedding(tower.slots(movies)) + tower.content_projection(tower.content(movies))
    np.testing.assert_allclose(tower.history_items(movies).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pooling", ["weighted", "two_scale"])
def test_pooling_the_content_before_projecting_it_gives_the_pooling_of_the_history_items(pooling: str) -> None:
    model = build_model(tables(), TowerConfig(embedding_dim=8, pooling=pooling, recent_length=3), TrainConfig(), None)
    tower = model.query_tower
    features = queries()
    movies = features["history_movies"]
    mask = tf.cast(movies > 0, tf.float32)
    item_features = tf.random.stateless_normal([4, 6, 2], seed=[1, 2]) * mask[..., None]
    kernel = tower.pooling.weights[0]  # the (first) pooling's score kernel: non-zero, so the weights differ
    kernel.assign(tf.random.stateless_normal(kernel.shape, seed=[3, 4]))
    expected = tower.pooling(tower.history_items(movies), item_features, mask)
    pooled = tower.pooled_items(movies, lambda items: tower.pooling(items, item_features, mask))
    np.testing.assert_allclose(pooled.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_chunk_batches_leave_the_users_other_targets_and_the_padding_out() -> None:
    model = build_model(tables(), TowerConfig(), TrainConfig(), None)  # no future-negative table here
    features = {
        "target": tf.constant([1, 2, 3, 1], tf.int32),
        "user": tf.constant([0, 0, 5, 7], tf.int64),  # rows 0 and 1: one user's two targets
        "weight": tf.constant([1.0, 1.0, 1.0, 0.0]),  # row 3: padding past the end of the arrays
    }
    keep = model.score_mask(features).numpy()
    expected = [
        [True, False, True, False],  # not the same user's movie 2; not movie 1 again (accidental hit)
        [False, True, True, False],  # not the same user's movie 1; not the padding
        [True, True, True, False],
        [False, True, True, True],  # its own positive counts even when it is padding
    ]
    np.testing.assert_array_equal(keep, expected)


def test_the_xla_compiled_training_step_updates_the_weights_as_the_plain_step_does() -> None:
    features = {**queries(batch=8), "target": tf.constant([1, 2, 3, 3, 25, 7, 1, 9], tf.int32)}
    dataset = tf.data.Dataset.from_tensors(features).repeat(3)
    initial, trained = [], []
    for jit in (True, False):
        keras.utils.set_random_seed(0)
        towers = TowerConfig(embedding_dim=8, id_dropout=0.0)
        model = build_model(tables(), towers, TrainConfig(jit_compile=jit, steps_per_execution=1), None)
        assert model._jit_compile is jit
        initial.append([w.numpy() for w in model.trainable_weights])
        model.fit(dataset, epochs=1, verbose=0)
        trained.append([w.numpy() for w in model.trainable_weights])
    for start_compiled, start_plain in zip(*initial, strict=True):
        np.testing.assert_array_equal(start_compiled, start_plain)
    for compiled, plain in zip(*trained, strict=True):
        # Float noise only (~1e-6 for most weights); a wrong update would be off by about a learning-rate step
        # (3e-3), so a tenth of one is the bound. The loosest weight is the pooling bias, whose near-zero
        # gradient Adam scales up to a full step: its float noise becomes a share of the step (7.6e-5 after
        # three steps on one 2-core x86 machine, 5% of the bias's 1.5e-3 move).
        np.testing.assert_allclose(compiled, plain, rtol=1e-4, atol=0.1 * TrainConfig().learning_rate)
    assert not any(np.allclose(after, before) for after, before in zip(trained[0], initial[0], strict=True))


def test_id_dropout_follows_the_seed_also_under_xla() -> None:
    movies = tf.constant(np.arange(1, 21), tf.int32)  # all seen movies: dropout sends them to the OOV row

    def trained_embeddings(seed: int) -> np.ndarray:
        keras.utils.set_random_seed(seed)
        tower = build_model(tables(), TowerConfig(id_dropout=0.5), TrainConfig(), None).candidate_tower
        embed = tf.function(lambda: tower(movies, training=True), jit_compile=True)
        return np.stack([embed().numpy(), embed().numpy()])

    first = trained_embeddings(0)
    assert not np.allclose(first[0], first[1])  # a new draw every step
    np.testing.assert_array_equal(first, trained_embeddings(0))
    assert not np.allclose(first, trained_embeddings(1))


def test_each_tower_saves_and_loads_on_its_own(tmp_path) -> None:
    """Each tower is a SavedModel by itself (serve the candidate tower to embed new movies, the query tower
    to embed users), answering as the tower in memory does."""
    model = build_model(tables(), TowerConfig(embedding_dim=8), TrainConfig(), None)
    movies = tf.constant([1, 25, 30])
    query_spec = {name: tf.TensorSpec([None, None], value.dtype, name) for name, value in queries().items()
                  if name != "query_timestamp"}  # fmt: skip
    query_spec["query_timestamp"] = tf.TensorSpec([None], tf.int64, "query_timestamp")
    signatures = {
        "candidate_tower": tf.function(lambda m: model.candidate_tower(m), [tf.TensorSpec([None], tf.int32)]),
        "query_tower": tf.function(lambda f: model.query_tower(f), [query_spec]),
    }
    for name, function in signatures.items():
        tower = getattr(model, name)
        tf.saved_model.save(tower, str(tmp_path / name), signatures=function.get_concrete_function())
    candidate = tf.saved_model.load(str(tmp_path / "candidate_tower")).signatures["serving_default"]
    np.testing.assert_allclose(next(iter(candidate(movies).values())), model.candidate_tower(movies), atol=1e-6)
    query = tf.saved_model.load(str(tmp_path / "query_tower")).signatures["serving_default"]
    np.testing.assert_allclose(next(iter(query(**queries()).values())), model.query_tower(queries()), atol=1e-6)


def test_a_full_catalog_softmax_is_the_cross_entropy_over_every_rated_movie() -> None:
    """catalog_negatives=-1: each query's softmax runs over its positive and every movie rated before T_val
    (none twice, no in-batch copies), those first rated after the query left out."""
    first_rated = np.zeros(MOVIES + 1, np.int64)
    first_rated[7] = 10**10  # rated only after every query here
    model = build_model(tables(), TowerConfig(embedding_dim=8, id_dropout=0.0), TrainConfig(catalog_negatives=-1),
                        None, first_rated)  # fmt: skip
    features = {**queries(), "target": tf.constant([1, 2, 2, 5]), "weight": tf.ones(4)}
    loss = float(model.compute_loss(features))
    users = model.query_tower(features).numpy()
    movies = model.candidate_tower(tf.range(MOVIES + 1)).numpy()
    warm = [m for m in range(1, 21) if m != 7]  # tables(): movies 1-20 have ids (rated before T_val)
    expected = 0.0
    for user, target in zip(users, [1, 2, 2, 5], strict=True):
        logits = movies[warm] @ user / TrainConfig().temperature
        expected -= logits[warm.index(target)] - np.log(np.exp(logits).sum())
    assert loss == pytest.approx(expected / 4, rel=1e-4)


def test_cold_negatives_join_the_softmax_with_their_own_logq_correction() -> None:
    """cold_negatives=N: N movies nobody rated before T_val (21-30 in tables()) drawn each step join the
    in-batch negatives; a pool column's logQ probability is its expected draws (N / 10) plus B x p, an
    in-batch column's only B x p (no target can be drawn from that pool)."""
    probability = np.full(MOVIES + 1, 1e-9, np.float32)
    probability[1:21] = 1.0 / 20
    train = TrainConfig(cold_negatives=5, mask_future_negatives=False)
    model = build_model(tables(), TowerConfig(embedding_dim=8, id_dropout=0.0), train, probability)
    generator = model.catalog_negatives.generator
    state = generator.state.numpy()
    pool = model.catalog_negatives.draw().numpy()
    generator.reset(state)  # compute_loss draws the same pool
    assert set(pool) <= set(range(21, 31))
    targets = np.array([1, 2, 2, 5], np.int32)
    features = {**queries(), "target": tf.constant(targets), "weight": tf.ones(4)}
    loss = float(model.compute_loss(features))
    users = model.query_tower(features).numpy()
    columns = np.concatenate([targets, pool])
    movies = model.candidate_tower(tf.constant(columns)).numpy()
    expected_count = 4 * probability[columns] + np.where(np.arange(len(columns)) >= 4, 5 / 10, 0.0)
    expected = 0.0
    for row, user in enumerate(users):
        logits = movies @ user / train.temperature - np.log(expected_count)
        keep = (columns != targets[row]) | (np.arange(len(columns)) == row)  # accidental hits out
        expected -= logits[row] - np.log(np.exp(logits[keep]).sum())
    assert loss == pytest.approx(expected / 4, rel=1e-4)


def test_cold_negatives_refuse_what_would_make_them_moot() -> None:
    towers = TowerConfig(embedding_dim=8)
    with pytest.raises(ValueError, match="nomask_future_negatives"):
        build_model(tables(), towers, TrainConfig(cold_negatives=5), None)
    with pytest.raises(ValueError, match="choose one"):
        build_model(tables(), towers, TrainConfig(cold_negatives=5, catalog_negatives=4), None)
    with pytest.raises(ValueError, match="none to draw"):
        build_model(tables(seen=MOVIES), towers, TrainConfig(cold_negatives=5, mask_future_negatives=False), None)


def test_members_embed_side_by_side_and_each_pair_has_its_own_loss() -> None:
    """--members=3: the embeddings are the members' concatenated (a dot product is the sum of the members'
    scores), and the loss is the sum of each query/candidate member pair's own in-batch softmax loss."""
    probability = np.full(MOVIES + 1, 1 / MOVIES, np.float32)
    config = TowerConfig(embedding_dim=8, id_dropout=0.0, release_age=True, cold_release_age=True, members=3)
    keras.utils.set_random_seed(0)
    model = build_model(tables(), config, TrainConfig(), probability)
    features = {**queries(), "target": tf.constant([1, 2, 25, 5]), "weight": tf.ones(4)}
    users, movies = model.query_tower(features).numpy(), model.candidate_tower(features["target"]).numpy()
    members = zip(model.query_tower.members, model.candidate_tower.members, strict=True)
    parts = [(q(features).numpy(), c(features["target"]).numpy()) for q, c in members]
    width = parts[0][0].shape[1]  # 8 + the release-age code
    assert users.shape == (4, 3 * width) and movies.shape == (4, 3 * width)
    np.testing.assert_allclose(users @ movies.T, sum(u @ m.T for u, m in parts), rtol=1e-5, atol=1e-6)
    assert not np.allclose(parts[0][0], parts[1][0])  # each member initialised on its own
    expected = 0.0
    for user, movie in parts:
        logits = user @ movie.T / TrainConfig().temperature - np.log(probability[[1, 2, 25, 5]])[None, :]
        expected += _softmax_loss(logits)
    assert float(model.compute_loss(features)) == pytest.approx(expected, rel=1e-4)


def test_members_refuse_fewer_than_one() -> None:
    with pytest.raises(ValueError, match="--members must be at least 1"):
        check_towers(TowerConfig(members=0))


@pytest.mark.parametrize(
    ("config", "message"),
    [(TowerConfig(linear_rank=-1), "--linear_rank must be"), (TowerConfig(linear_max_cases=-5), "--linear_max_cases")],
)
def test_the_linear_member_refuses_negative_settings(config: TowerConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_towers(config)
