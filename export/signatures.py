"""The exported signatures, declared once (TensorFlow-free): the SavedModel's input specs (export/module.py),
the REST API's request parsing (export/predict.py) and the manifest's description (export/manifest.py) all
read them from here. B = batch, L = history columns (any L), K and d fixed at export.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str  # "int64" or "float32"
    shape: tuple[str, ...]  # symbolic: ("B", "L")

    def describe(self) -> str:
        return f"{self.name} {self.dtype} [{', '.join(self.shape)}]"


@dataclasses.dataclass(frozen=True)
class Signature:
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    note: str = ""

    def describe(self) -> str:
        text = f"{', '.join(t.describe() for t in self.inputs)} -> {', '.join(t.describe() for t in self.outputs)}"
        return f"{text} ({self.note})" if self.note else text


HISTORY_INPUTS = (
    Tensor("history_movie_ids", "int64", ("B", "L")),
    Tensor("history_ratings", "float32", ("B", "L")),
    Tensor("history_timestamps", "int64", ("B", "L")),
    Tensor("query_timestamp", "int64", ("B",)),
)
MOVIE_INPUTS = (Tensor("movie_ids", "int64", ("B",)),)
RANKED = (Tensor("movie_ids", "int64", ("B", "K")), Tensor("scores", "float32", ("B", "K")))
EMBEDDING = (Tensor("embedding", "float32", ("B", "d")),)
SIGNATURES = {
    "recommend": Signature(HISTORY_INPUTS, RANKED, "history_movie_ids 0 = padding; the history is never recommended"),
    "user_embedding": Signature(HISTORY_INPUTS, EMBEDDING),
    "movie_embedding": Signature(MOVIE_INPUTS, EMBEDDING, "zeros for unknown ids"),
    "similar_movies": Signature(MOVIE_INPUTS, RANKED, "itself excluded"),
}
SIGNATURES["serving_default"] = SIGNATURES["recommend"]


def input_names(signature: str) -> tuple[str, ...]:
    return tuple(t.name for t in SIGNATURES[signature].inputs)


def describe() -> dict[str, str]:
    """Signature name -> one line (the manifest's "signatures")."""
    return {name: signature.describe() for name, signature in SIGNATURES.items()}
