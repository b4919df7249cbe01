"""iALS (the `implicit` library) with the user vector recomputed from the query history at scoring time
(nothing is learned about a case's user at or after T_val)."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from pipelines.data.split import Interactions
from pipelines.evaluation.baselines.common import binary_matrix, cold_rows
from pipelines.evaluation.evaluator import Queries


class IALS:
    """iALS (implicit's AlternatingLeastSquares on the binary training matrix). The user vector of a case
    is recomputed from its query history by implicit's own least-squares solve (recalculate_user) and
    scored against the item factors; cold users get the popularity ranking."""

    name = "ials"

    def __init__(self, model, counts: np.ndarray) -> None:
        self.model = model
        self.item_factors = np.asarray(model.item_factors, np.float32)  # [n + 1, f]
        self.counts = np.asarray(counts, np.float32)

    def user_factors(self, queries: Queries) -> np.ndarray:
        """[B, f] the fold-in user vectors (zero for an empty history)."""
        history = binary_matrix(queries.history, len(self.counts))
        with threadpool_limits(1, "blas"):
            return np.asarray(self.model.recalculate_user(np.arange(history.shape[0]), history), np.float32)

    def scores(self, queries: Queries) -> np.ndarray:
        out = self.user_factors(queries) @ self.item_factors.T
        out[cold_rows(queries)] = self.counts
        return out


def ials(
    train: Interactions,
    num_movies: int,
    *,
    factors: int,
    regularization: float,
    alpha: float,
    iterations: int,
    seed: int = 0,
) -> IALS:
    """Fits implicit's AlternatingLeastSquares on the binary training matrix (alpha: confidence of a rating)."""
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError as error:  # pragma: no cover - a dependency of the package
        raise ImportError("iALS needs the `implicit` package: pip install implicit") from error

    with threadpool_limits(1, "blas"):  # implicit parallelises itself; nested BLAS threads only slow it
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=seed,
        )
        model.fit(binary_matrix(train, num_movies + 1), show_progress=False)
    return IALS(model, np.bincount(train.movies, minlength=num_movies + 1))
