"""The towers' and the genome encoder's settings (TensorFlow-free: the command line derives its flags
from these fields, pipelines/cli.py)."""

from __future__ import annotations

import dataclasses

POOLING_NAMES = ("weighted", "attention", "two_scale")
ENCODERS = ("autoencoder", "pca", "none")


@dataclasses.dataclass(frozen=True)
class TowerConfig:
    """Sizes and inputs of both towers.

    Attributes:
      embedding_dim: Size of user and movie embeddings (the output of both towers).
      id_dim: Size of movie-id embeddings inside the towers.
      hidden: Hidden width of each tower's MLP.
      pooling: History encoder of the query tower: weighted (rating/recency-weighted mean), attention, or
        two_scale (a weighted mean of the recent_length most recent ratings beside one of the whole history).
      recent_length: Ratings of the short-term mean of two_scale pooling (the most recent ones).
      id_dropout: Training probability of hiding a candidate's id, so that the out-of-vocabulary slot and
        the content learn to stand in for movies never rated before T_val (the cold-movie path).
      hide_popularity: Id dropout also hides the candidate's popularity features, as they are for a movie
        never rated before T_val (zero), so the cold-movie path trains on what such a movie looks like.
      release_age: Add a learned score for a movie's release age at the query time (towers.layers
        ReleaseAgeCode): new releases are what many users rate next, and a movie nobody rated yet is mostly one.
      cold_release_age: With release_age, a movie that looks never rated (the out-of-vocabulary id: nobody
        rated it before T_val, or training hides its id) gets a release-age score of its own.
      use_content_in_history: Add each history movie's content projection to its id embedding.
      share_id_embedding: The query tower reads history ids from the candidate tower's id embeddings.
      members: Train this many query and candidate towers side by side, each pair with its own loss and
        initialisation; the embeddings are theirs concatenated, so a score is the sum of the members'
        (towers.members; training and embedding cost grow with it).
      linear_rank: Add a linear member after training (towers.linear_member): EASE's item-item weights on
        the training ratings, factorised to this rank, their score added to the towers', EASE's lambda and
        the weight chosen together on validation; 0 = none. The embeddings grow by this many columns.
      linear_max_cases: Choose the linear member's lambda and weight on at most this many validation cases (a
        sample fixed by the seed; 0 = all of them): at full size, scoring every case at every grid point is
        most of the member's cost.
    """

    embedding_dim: int = 64
    id_dim: int = 64
    hidden: int = 128
    pooling: str = dataclasses.field(default="weighted", metadata={"choices": POOLING_NAMES})
    recent_length: int = 50
    id_dropout: float = 0.1
    hide_popularity: bool = False
    release_age: bool = False
    cold_release_age: bool = False
    use_content_in_history: bool = True
    share_id_embedding: bool = True
    members: int = 1
    linear_rank: int = 0
    linear_max_cases: int = 0


def check_towers(config: TowerConfig) -> None:
    """Tower settings that cannot go together (ValueError)."""
    if config.cold_release_age and not config.release_age:
        raise ValueError("cold_release_age needs release_age (--release_age)")
    if config.members < 1:
        raise ValueError(f"--members must be at least 1, got {config.members}")
    if config.linear_rank < 0:
        raise ValueError(f"--linear_rank must be 0 (none) or positive, got {config.linear_rank}")
    if config.linear_max_cases < 0:
        raise ValueError(f"--linear_max_cases must be 0 (all) or positive, got {config.linear_max_cases}")


@dataclasses.dataclass(frozen=True)
class GenomeConfig:
    """Where the candidate tower's genome code comes from.

    Attributes:
      genome_encoder: Genome code source: autoencoder (bottleneck), pca or none.
      bottleneck: Genome code size (autoencoder bottleneck or PCA components).
      ae_hidden: Genome autoencoder hidden width.
      ae_epochs: Genome autoencoder maximum epochs (early stopping on held-out movies).
      ae_batch_size: Genome autoencoder batch size.
      ae_learning_rate: Genome autoencoder learning rate.
      ae_patience: Genome autoencoder early-stopping patience.
      ae_heldout_frac: Share of genome movies held out to validate the encoder (autoencoder and PCA alike).
    """

    genome_encoder: str = dataclasses.field(default="autoencoder", metadata={"choices": ENCODERS})
    bottleneck: int = 64
    ae_hidden: int = 512
    ae_epochs: int = 60
    ae_batch_size: int = 128
    ae_learning_rate: float = 1e-3
    ae_patience: int = 5
    ae_heldout_frac: float = 0.1
