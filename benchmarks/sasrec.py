"""SASRec on the protocol's split: a sequence encoder as an alternative query tower, measured before building it.

    python -m benchmarks.sasrec --data_dir=ml-latest-small.zip [--seed=0] [--sasrec_blocks=2 --sasrec_dim=64
        --sasrec_dropout=0.2 --sasrec_max_length=200 --sasrec_targets=liked --sasrec_epochs=200 ...]

Causal self-attention over a user's training ratings, oldest first (Kang & McAuley, ICDM 2018), trained at
every position with the full cross-entropy over the movies rated before `T_val` (Klenitskiy & Vasilev,
RecSys 2023); a position's target is the next rating (`--sasrec_targets=liked`: only the liked ones,
rating 4+, the movies the evaluation counts, as the small-release flagfile trains). Each input item is its
id embedding, a position embedding and a projection of its centred rating; a user's other movies in the
same window are not negatives (as `--mask_history_negatives`). The query of an evaluation case is the
output at the last of its `--sasrec_max_length` most recent history ratings, its scores the dot products
with the id embeddings; movies nobody rated before `T_val` score below every rated one. Validation
recall@20 picks the epoch (checked every `--sasrec_eval_every`), and both windows are scored once with its
weights; `--seed` seeds the weights and the batch order.

A probe, not a tower: the model lives here and is not exported. It answers whether the issue's
sequence-encoder lever is worth building into towers/ (BUILD_NOTES "Real data").
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf
import tf_keras as keras
from absl import app, flags

from pipelines import cli
from pipelines.data.prepared import PrepareConfig, prepare
from pipelines.data.split import Interactions
from pipelines.evaluation.evaluator import Queries, evaluate

FLAGS = flags.FLAGS
MASKED = -1e9


def define_flags() -> None:
    flags.DEFINE_integer("sasrec_blocks", 2, "Self-attention blocks.", lower_bound=1)
    flags.DEFINE_integer("sasrec_heads", 1, "Attention heads (must divide --sasrec_dim).", lower_bound=1)
    flags.DEFINE_integer("sasrec_dim", 64, "Embedding and block width.", lower_bound=1)
    flags.DEFINE_float("sasrec_dropout", 0.2, "Dropout of the embeddings, the attention and the feed-forward layers.",
                       lower_bound=0.0, upper_bound=0.9)  # fmt: skip
    flags.DEFINE_integer(
        "sasrec_max_length", 200, "Ratings of a training window and of a query history.", lower_bound=2
    )
    flags.DEFINE_enum("sasrec_targets", "liked", ["liked", "all"], "Which next ratings are training targets.")
    flags.DEFINE_integer("sasrec_epochs", 200, "Maximum epochs.", lower_bound=1)
    flags.DEFINE_integer(
        "sasrec_patience", 6, "Validation checks without a better recall@20 before stopping.", lower_bound=1
    )
    flags.DEFINE_integer("sasrec_eval_every", 2, "Epochs between validation checks.", lower_bound=1)
    flags.DEFINE_integer("sasrec_batch_size", 64, "Training windows per step.", lower_bound=1)
    flags.DEFINE_float("sasrec_learning_rate", 1e-3, "Adam learning rate.", lower_bound=0.0)


def windows(train: Interactions, slots: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Training windows of length + 1 ratings (inputs are the first `length`, targets the last `length`):
    each user's ratings cut from the newest end into windows that overlap by one rating (the previous
    window's first input is this one's last target), left-padded with slot 0.

    Returns ([W, length + 1] int32 slots, [W, length + 1] float32 ratings), oldest first in each row.
    """
    items, ratings = [], []
    for row in range(len(train)):
        movies, stars, _ = train.row(row)
        for end in range(len(movies), 1, -length):
            start = max(0, end - length - 1)
            item_row = np.zeros(length + 1, np.int32)
            rating_row = np.zeros(length + 1, np.float32)
            item_row[length + 1 - (end - start) :] = slots[movies[start:end]]
            rating_row[length + 1 - (end - start) :] = stars[start:end]
            items.append(item_row)
            ratings.append(rating_row)
    if not items:
        raise ValueError("no user has two training ratings: nothing to train SASRec on")
    return np.stack(items), np.stack(ratings)


def last_window(history: Interactions, slots: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """([B, length] slots, [B, length] ratings) of each query history's most recent `length` ratings, left-padded."""
    items = np.zeros((len(history), length), np.int32)
    ratings = np.zeros((len(history), length), np.float32)
    for row in range(len(history)):
        movies, stars, _ = history.row(row)
        count = min(len(movies), length)
        if count:
            items[row, length - count :] = slots[movies[-count:]]
            ratings[row, length - count :] = stars[-count:]
    return items, ratings


class SASRec(keras.Model):
    """[B, L] slots (0 = padding) and ratings -> [B, L, dim]: position p attends to positions <= p."""

    def __init__(self, num_slots: int, length: int, dim: int, blocks: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.length, self.dim = length, dim
        self.item = keras.layers.Embedding(num_slots, dim, name="item")
        self.position = keras.layers.Embedding(length, dim, name="position")
        self.rating = keras.layers.Dense(dim, use_bias=False, name="rating")
        self.dropout = keras.layers.Dropout(dropout)
        self.blocks = [
            (
                keras.layers.LayerNormalization(epsilon=1e-8),
                keras.layers.MultiHeadAttention(heads, dim // heads, dropout=dropout),
                keras.layers.LayerNormalization(epsilon=1e-8),
                keras.layers.Dense(dim, activation="relu"),
                keras.layers.Dense(dim),
            )
            for _ in range(blocks)
        ]
        self.final = keras.layers.LayerNormalization(epsilon=1e-8)

    def call(self, items: tf.Tensor, ratings: tf.Tensor, training: bool = False) -> tf.Tensor:
        present = items > 0
        keep = tf.cast(present, tf.float32)[..., None]
        centred = ((ratings - 3.5) / 1.5)[..., None]
        x = self.item(items) * self.dim**0.5 + self.position(tf.range(self.length))[None] + self.rating(centred)
        x = self.dropout(x, training=training) * keep
        causal = tf.linalg.band_part(tf.ones([self.length, self.length], tf.bool), -1, 0)[None]
        attend = causal & present[:, None, :]
        for norm, attention, feed_norm, hidden, out in self.blocks:
            x = (x + attention(norm(x), x, attention_mask=attend, training=training)) * keep
            x = (x + self.dropout(out(self.dropout(hidden(feed_norm(x)), training=training)), training=training)) * keep
        return self.final(x)


class SASRecRecommender:
    """The evaluator's view of a SASRec model: the last position's output . every movie's id embedding."""

    name = "sasrec"

    def __init__(self, model: SASRec, slots: np.ndarray) -> None:
        self.model, self.slots = model, slots

    def scores(self, queries: Queries) -> np.ndarray:
        items, ratings = last_window(queries.history, self.slots, self.model.length)
        outputs = [
            self.model(tf.constant(items[s : s + 256]), tf.constant(ratings[s : s + 256]))[:, -1].numpy()
            for s in range(0, len(items), 256)
        ]
        scores = np.concatenate(outputs) @ self.model.item.embeddings.numpy()[self.slots].T
        scores[:, self.slots == 0] = scores.min() - 1.0  # never rated before T_val: no id vector
        return scores


def train_step(model: SASRec, optimizer: keras.optimizers.Optimizer, liked_only: bool):
    """A compiled step: full softmax over the slots at every position with a target."""
    num_slots = model.item.input_dim

    @tf.function(reduce_retracing=True)
    def step(items: tf.Tensor, ratings: tf.Tensor) -> tf.Tensor:
        inputs, targets = items[:, :-1], items[:, 1:]
        valid = (targets > 0) & (inputs > 0)
        if liked_only:
            valid &= ratings[:, 1:] >= 4.0
        where = tf.where(valid)  # [R, 2] (window, position)
        target = tf.gather_nd(targets, where)
        in_window = tf.reduce_max(tf.one_hot(items, num_slots, dtype=tf.int8), axis=1) > 0  # [W, S]
        not_negative = tf.gather(in_window, where[:, 0]) & ~tf.one_hot(
            target, num_slots, on_value=True, off_value=False
        )
        not_negative |= tf.one_hot(0, num_slots, on_value=True, off_value=False)[None]  # padding
        with tf.GradientTape() as tape:
            outputs = tf.gather_nd(model(inputs, ratings[:, :-1], training=True), where)
            logits = tf.where(not_negative, MASKED, outputs @ tf.transpose(model.item.embeddings))
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(target, logits))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    return step


@cli.exits_2_on_bad_input
def main(argv: list[str]) -> None:
    del argv
    if FLAGS.sasrec_dim % FLAGS.sasrec_heads:
        raise ValueError(f"--sasrec_heads ({FLAGS.sasrec_heads}) must divide --sasrec_dim ({FLAGS.sasrec_dim})")
    prepared = prepare(cli.config_from_flags(PrepareConfig))
    split, num_movies, counts = prepared.split, prepared.catalog.num_movies, prepared.train_counts
    keras.utils.set_random_seed(FLAGS.seed)
    rated = np.flatnonzero(counts[1:] > 0) + 1
    slots = np.zeros(num_movies + 1, np.int32)
    slots[rated] = np.arange(1, len(rated) + 1)
    items, ratings = windows(split.train, slots, FLAGS.sasrec_max_length)
    print(f"{len(items):,} training windows of {FLAGS.sasrec_max_length}, {len(rated):,} rated movies", flush=True)
    model = SASRec(
        len(rated) + 1,
        FLAGS.sasrec_max_length,
        FLAGS.sasrec_dim,
        FLAGS.sasrec_blocks,
        FLAGS.sasrec_heads,
        FLAGS.sasrec_dropout,
    )
    step = train_step(
        model, keras.optimizers.Adam(FLAGS.sasrec_learning_rate, beta_2=0.98), FLAGS.sasrec_targets == "liked"
    )
    rng = np.random.default_rng(FLAGS.seed)
    best, best_epoch, best_weights, waited, start = -1.0, 0, None, 0, time.perf_counter()
    for epoch in range(1, FLAGS.sasrec_epochs + 1):
        order = rng.permutation(len(items))
        losses = [float(step(tf.constant(items[b]), tf.constant(ratings[b])))
                  for b in np.array_split(order, max(len(order) // FLAGS.sasrec_batch_size, 1))]  # fmt: skip
        if epoch % FLAGS.sasrec_eval_every and epoch != FLAGS.sasrec_epochs:
            continue
        recall = evaluate(SASRecRecommender(model, slots), split.val, num_movies, counts).overall["recall@20"]["mean"]
        print(f"epoch {epoch}: loss {np.mean(losses):.4f}, validation recall@20 {recall:.4f}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
        if recall > best:
            best, best_epoch, best_weights, waited = recall, epoch, model.get_weights(), 0
        else:
            waited += 1
            if waited >= FLAGS.sasrec_patience:
                break
    model.set_weights(best_weights)
    print(f"best epoch {best_epoch}, {time.perf_counter() - start:.0f} s; the windows scored with its weights:")
    for window, cases in (("validation", split.val), ("test", split.test)):
        overall = evaluate(SASRecRecommender(model, slots), cases, num_movies, counts).overall
        cells = ", ".join(f"{m} {overall[m]['mean']:.4f}" for m in ("recall@20", "ndcg@100", "coverage@10"))
        print(f"{window}: {cells}", flush=True)


if __name__ == "__main__":
    define_flags()
    cli.define_all_flags(PrepareConfig, "seed")
    app.run(main, flags_parser=cli.parse_flags)
