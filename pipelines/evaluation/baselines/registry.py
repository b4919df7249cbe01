"""The protocol's baselines by name, each a `Recommender` fitted only on the training ratings (before T_val).

One module per family: popularity (popularity, recent popularity), neighbors (item-kNN), linear (EASE),
factorization (iALS), content (the newest releases in the user's genres, and a content kNN over title words
then those: baselines for new movies). Cold
users (empty query history) get the popularity ranking from every history-based baseline, which would
otherwise score every movie alike.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pipelines.data.errors import DataError
from pipelines.data.split import Interactions
from pipelines.evaluation.baselines import content, factorization, linear, neighbors, popularity
from pipelines.evaluation.baselines.content import MovieContent
from pipelines.evaluation.evaluator import Recommender

NAMES = ("popularity", "recent_popularity", "item_knn", "ease", "ials", "new_in_genres", "title_knn")


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    """Hyper-parameters of the baselines.

    Attributes:
      recent_days: Recent popularity counts the training ratings of these last days before T_val.
      knn_neighbors: Item-kNN keeps this many most similar items per item.
      ease_lambda: EASE L2 regularisation.
      ease_max_items: EASE models at most this many most-rated movies.
      ease_memory_gb: Refuse EASE when its dense item-item matrices would need more than this (rather than swap).
      ials_factors: iALS latent factors (implicit's AlternatingLeastSquares).
      ials_iterations: iALS alternating least-squares sweeps.
      ials_regularization: iALS L2 regularisation.
      ials_alpha: iALS confidence of a rated movie.
      new_half_life_years: The content baselines (new_in_genres, title_knn) halve a movie's newness every this
        many years of age at T_val.
      title_weight: title_knn's weight of the title words a movie shares with the history (log scale) beside
        new_in_genres' score, which is at most 1.
    """

    recent_days: int = 90
    knn_neighbors: int = 500
    ease_lambda: float = 2000.0
    ease_max_items: int = 10_000
    ease_memory_gb: float = 4.0
    ials_factors: int = 64
    ials_iterations: int = 15
    ials_regularization: float = 50.0
    ials_alpha: float = 5.0
    new_half_life_years: float = 1.0
    title_weight: float = 0.3


def parse_names(value: str) -> list[str]:
    """'all' | 'none' | a comma list of NAMES -> the baseline names, in NAMES order."""
    value = value.strip()
    if value == "all":
        return list(NAMES)
    if value in ("none", ""):
        return []
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise DataError(f"unknown baseline(s) {', '.join(unknown)}; known: all, none, {', '.join(NAMES)}")
    return [n for n in NAMES if n in names]


def fit(
    name: str,
    train: Interactions,
    num_movies: int,
    t_val: int,
    config: BaselineConfig,
    seed: int = 0,
    movie_content: MovieContent | None = None,
) -> Recommender:
    """One baseline by name, fitted on the training ratings only (seed: iALS initialisation; movie_content:
    the catalog's genres and years, which the content baseline needs)."""
    if name in ("new_in_genres", "title_knn"):
        if movie_content is None:
            raise ValueError(f"the {name} baseline needs the catalog's content (movie_content)")
        counts = np.bincount(train.movies, minlength=num_movies + 1)
        if name == "title_knn":
            return content.title_knn(movie_content, counts, t_val, config.new_half_life_years, config.title_weight)
        return content.new_in_genres(movie_content, counts, t_val, config.new_half_life_years)
    if name == "popularity":
        return popularity.popularity(train, num_movies)
    if name == "recent_popularity":
        return popularity.recent_popularity(train, num_movies, t_val, config.recent_days)
    if name == "item_knn":
        return neighbors.item_knn(train, num_movies, config.knn_neighbors)
    if name == "ease":
        return linear.ease(train, num_movies, config.ease_lambda, config.ease_max_items,
                           config.ease_memory_gb)  # fmt: skip
    if name == "ials":
        return factorization.ials(
            train,
            num_movies,
            factors=config.ials_factors,
            regularization=config.ials_regularization,
            alpha=config.ials_alpha,
            iterations=config.ials_iterations,
            seed=seed,
        )
    raise DataError(f"unknown baseline {name!r}; known: {', '.join(NAMES)}")
