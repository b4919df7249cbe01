"""Genome codes for the candidate tower: an autoencoder bottleneck (or PCA, or none) of the tag genome.

Unlike the notebook this replaces: sigmoid outputs for relevances in [0, 1] trained with binary
cross-entropy, mini-batches, a held-out set of movies for validation and early stopping, and no
BatchNorm+ReLU on the output.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras as keras

from towers.config import ENCODERS, GenomeConfig


class GenomeAutoencoder(keras.Model):
    """Relevances [B, T] -> code [B, bottleneck] -> reconstruction [B, T] in [0, 1]."""

    def __init__(self, num_tags: int, bottleneck: int, hidden: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder = keras.Sequential(
            [keras.layers.Dense(hidden, activation="relu"), keras.layers.Dense(bottleneck)], name="encoder"
        )
        self.decoder = keras.Sequential(
            [keras.layers.Dense(hidden, activation="relu"), keras.layers.Dense(num_tags, activation="sigmoid")],
            name="decoder",
        )

    def call(self, relevances: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.decoder(self.encoder(relevances, training=training), training=training)


@dataclasses.dataclass(frozen=True)
class GenomeCodes:
    """Codes aligned to the movie index (zeros where a movie has no genome) and how they were made.

    Attributes:
      codes: [n + 1, bottleneck] float32, standardised per column over genome movies.
      report: held-out reconstruction MSE and training curve (for BUILD_NOTES and metrics.json).
    """

    codes: np.ndarray
    report: dict


def _split(num: int, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(num)
    held = max(1, round(num * frac)) if num > 1 else 0
    return order[held:], order[:held]


def _standardise(codes: np.ndarray) -> np.ndarray:
    return (codes - codes.mean(0)) / (codes.std(0) + 1e-6)


def train_autoencoder(genome: np.ndarray, config: GenomeConfig, seed: int = 0) -> tuple[GenomeAutoencoder, dict]:
    """Fits the autoencoder on [G, T] relevances with early stopping on held-out movies."""
    keras.utils.set_random_seed(seed)
    fit_rows, held_rows = _split(len(genome), config.ae_heldout_frac, seed)
    model = GenomeAutoencoder(genome.shape[1], config.bottleneck, config.ae_hidden)
    model.compile(
        optimizer=keras.optimizers.Adam(config.ae_learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.MeanSquaredError(name="mse")],
    )
    stop = keras.callbacks.EarlyStopping(patience=config.ae_patience, restore_best_weights=True)
    history = model.fit(
        genome[fit_rows],
        genome[fit_rows],
        validation_data=(genome[held_rows], genome[held_rows]),
        epochs=config.ae_epochs,
        batch_size=config.ae_batch_size,
        callbacks=[stop],
        verbose=0,
    )
    curve = {k: [round(float(v), 6) for v in values] for k, values in history.history.items()}
    best = int(np.argmin(curve["val_loss"]))
    return model, {
        "epochs_run": len(curve["loss"]),
        "best_epoch": best + 1,
        "heldout_mse": curve["val_mse"][best],
        "heldout_bce": curve["val_loss"][best],
        "curve": curve,
    }


def pca(genome: np.ndarray, config: GenomeConfig, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """(mean [T], components [k, T], report): PCA fitted on the same movies the autoencoder fits on."""
    fit_rows, held_rows = _split(len(genome), config.ae_heldout_frac, seed)
    mean = genome[fit_rows].mean(0)
    _, _, vt = np.linalg.svd(genome[fit_rows] - mean, full_matrices=False)
    components = vt[: config.bottleneck]
    held = genome[held_rows] - mean
    reconstruction = np.clip(held @ components.T @ components + mean, 0, 1)
    return mean, components, {"heldout_mse": float(np.mean((reconstruction - genome[held_rows]) ** 2))}


def genome_codes(genome: np.ndarray, has_genome: np.ndarray, config: GenomeConfig, seed: int = 0) -> GenomeCodes:
    """Codes for every movie from the dense [n + 1, T] genome (rows without one stay zero)."""
    if config.genome_encoder not in ENCODERS:
        raise ValueError(f"genome encoder must be one of {ENCODERS}, got {config.genome_encoder!r}")
    rows = np.flatnonzero(has_genome > 0)
    if config.genome_encoder == "none" or len(rows) < 2 or genome.shape[1] == 0:
        return GenomeCodes(np.zeros((len(genome), 0), np.float32), {"encoder": "none"})
    codes = np.zeros((len(genome), config.bottleneck), np.float32)
    if config.genome_encoder == "autoencoder":
        model, report = train_autoencoder(genome[rows], config, seed)
        raw = model.encoder.predict(genome[rows], batch_size=4096, verbose=0)
    else:
        mean, components, report = pca(genome[rows], config, seed)
        raw = (genome[rows] - mean) @ components.T
    codes[rows, : raw.shape[1]] = _standardise(raw)
    return GenomeCodes(codes, {"encoder": config.genome_encoder, **report})
