"""An export folder loaded for answering queries (export.query, export.serve): the SavedModel, the
movie metadata, embeddings and genome tags, plus the explanations ("because you liked ...").

Loading the ScaNN SavedModel needs only `import scann` before `tf.saved_model.load` (export.index does
it); the brute-force one needs nothing beyond TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from export import artifacts
from export.index import require_scann

LIKED_RATING = 4.0
MIN_RATING, MAX_RATING = 0.5, 5.0
HOUR = 3600
TEXT_COLUMNS = {"title": str, "original_title": str, "genres": str, "imdb_id": str}


@dataclasses.dataclass(frozen=True)
class Result:
    """One recommended or similar movie with its explanation.

    Attributes:
      rank: 1-based.  movie_id, title, year (0 unknown), genres ('|'-joined), score (cosine).
      because: (movie_id, title, similarity) of the history movie closest to this one, or None.
      tags: the genome tags this movie is most distinctive in ([] without a genome).
    """

    rank: int
    movie_id: int
    title: str
    year: int
    genres: str
    score: float
    because: tuple[int, str, float] | None
    tags: list[str]

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        if self.because is not None:
            out["because"] = dict(zip(("movie_id", "title", "similarity"), self.because, strict=True))
        return out


def parse_history(text: str) -> list[tuple[int, float]]:
    """'movieId:rating,...' -> [(movie_id, rating)], oldest first; ValueError naming the bad item."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError("the history is empty: give movieId:rating,...")
    out = []
    for item in items:
        movie, sep, rating = item.partition(":")
        try:
            movie_id, value = int(movie), float(rating) if sep else 4.0
        except ValueError:
            raise ValueError(f"bad history item {item!r}: expected movieId:rating, e.g. 1:4.5") from None
        if not (math.isfinite(value) and MIN_RATING <= value <= MAX_RATING):
            raise ValueError(f"bad rating in {item!r}: ratings run from {MIN_RATING} to {MAX_RATING}")
        out.append((movie_id, value))
    return out


class Export:
    """A loaded export.

    Args:
      export_dir: the folder written by export.build.
      index: "scann" (needs the scann package) or "brute_force".
    """

    def __init__(self, export_dir: str | Path, index: str = "scann") -> None:
        self.export_dir = Path(export_dir)
        manifest_path = self.export_dir / "manifest.json"
        if not manifest_path.exists():
            raise ValueError(f"{self.export_dir}: not an export folder (no manifest.json)")
        self.manifest = json.loads(manifest_path.read_text())
        if index == "scann":
            require_scann()
        self.index = index
        self.model = tf.saved_model.load(str(self.export_dir / self.manifest["saved_models"][index]))
        self.k = int(self.manifest["k"])
        self.default_query_time = int(self.manifest["data"]["t_test"])
        self.movies = pd.read_csv(
            self.export_dir / artifacts.MOVIES_CSV, keep_default_na=False, dtype=TEXT_COLUMNS
        ).set_index("movie_id")
        self.embeddings = np.load(self.export_dir / artifacts.EMBEDDINGS_NPY)
        ids = np.load(self.export_dir / artifacts.MOVIE_IDS_NPY)
        self.dense = {int(m): i for i, m in enumerate(ids) if i > 0}
        self.info = {
            int(m): (str(t), int(y), str(g))
            for m, t, y, g in zip(
                self.movies.index, self.movies.title, self.movies.year, self.movies.genres, strict=True
            )
        }
        self.top_tags = json.loads((self.export_dir / artifacts.TOP_TAGS_JSON).read_text())

    def unknown(self, movie_ids) -> list[int]:
        """The ids among `movie_ids` that are not in the catalog."""
        return [int(m) for m in movie_ids if int(m) not in self.dense]

    def title(self, movie_id: int) -> str:
        """'Title (year)', or the title alone when the year is unknown."""
        title, year, _ = self.info[movie_id]
        return f"{title} ({year})" if year else title

    def history_arrays(
        self, history: list[tuple[int, float]], query_time: int | None = None, timestamps: list[int] | None = None
    ) -> dict[str, tf.Tensor]:
        """Inputs of the `recommend` signature (batch of one) for a history [(movie_id, rating)] given oldest
        first. Without timestamps the ratings are one hour apart, the last an hour before the query time
        (default: the export's T_test)."""
        when = self.default_query_time if query_time is None else int(query_time)
        count = len(history)
        if timestamps is None:
            timestamps = [when - HOUR * (count - i) for i in range(count)]
        return {
            "history_movie_ids": tf.constant([[m for m, _ in history]], tf.int64, shape=(1, count)),
            "history_ratings": tf.constant([[r for _, r in history]], tf.float32, shape=(1, count)),
            "history_timestamps": tf.constant([timestamps], tf.int64, shape=(1, count)),
            "query_timestamp": tf.constant([when], tf.int64),
        }

    def recommend(
        self,
        history: list[tuple[int, float]],
        k: int = 10,
        query_time: int | None = None,
        timestamps: list[int] | None = None,
    ) -> list[Result]:
        """The top k (<= the exported K) for one history [(movie_id, rating)], oldest first, explained."""
        out = self.model.signatures["recommend"](**self.history_arrays(history, query_time, timestamps))
        liked = [m for m, r in history if r >= LIKED_RATING] or [m for m, _ in history]
        return self._results(out["movie_ids"][0, :k].numpy(), out["scores"][0, :k].numpy(), liked)

    def similar(self, movie_id: int, k: int = 10) -> list[Result]:
        """The k movies closest to `movie_id` (itself excluded)."""
        out = self.model.signatures["similar_movies"](movie_ids=tf.constant([movie_id], tf.int64))
        return self._results(out["movie_ids"][0, :k].numpy(), out["scores"][0, :k].numpy(), [])

    def because(self, movie_id: int, history: list[int]) -> tuple[int, str, float] | None:
        """The history movie whose embedding is closest to `movie_id`'s (cosine), with the similarity."""
        known = [m for m in history if m in self.dense]
        if not known:
            return None
        sims = self.embeddings[[self.dense[m] for m in known]] @ self.embeddings[self.dense[movie_id]]
        best = int(np.argmax(sims))
        return known[best], self.title(known[best]), float(sims[best])

    def _results(self, movie_ids: np.ndarray, scores: np.ndarray, history: list[int]) -> list[Result]:
        results = []
        for rank, (movie_id, score) in enumerate(zip(movie_ids.tolist(), scores.tolist(), strict=True), start=1):
            if movie_id == 0 or not math.isfinite(score):
                continue  # fewer than k movies outside the exclusions
            title, year, genres = self.info[movie_id]
            tags = [tag for tag, _ in self.top_tags.get(str(movie_id), [])]
            results.append(
                Result(rank, movie_id, title, year, genres, round(score, 4), self.because(movie_id, history), tags)
            )
        return results
