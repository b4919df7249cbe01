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


SPREAD_BAND = 0.05  # an anchor this close to the nearest one explains a result as well: spread among them


@dataclasses.dataclass(frozen=True)
class Anchor:
    """A history movie that explains a result: the movie, the user's rating and the cosine similarity."""

    movie: dict
    rating: float
    similarity: float

    def to_json(self) -> dict:
        return {**self.movie, "rating": self.rating, "similarity": round(self.similarity, 4)}


@dataclasses.dataclass(frozen=True)
class Result:
    """One recommended or similar movie with its explanation.

    Attributes:
      rank: 1-based.  movie: {movie_id, title (without the year), year (0 unknown), genres ('|'-joined)},
        the one shape of a movie in every answer.  score: the dot product of the embeddings (a cosine, plus
        the release-age score with release_age; a cosine for similar movies), rounded to 4 places.
      because: a liked history movie among the closest to this one (closest first, but spread over the
        results: of the liked movies within SPREAD_BAND of the closest, the one cited least so far), or None.
      also: the closest other history movie, whatever its rating, or None.
      tags: the genome tags this movie is most distinctive in ([] without a genome).
    """

    rank: int
    movie: dict
    score: float
    because: Anchor | None
    also: Anchor | None
    tags: list[str]

    @property
    def movie_id(self) -> int:
        return self.movie["movie_id"]

    def to_json(self) -> dict:
        return {
            "rank": self.rank,
            **self.movie,
            "score": self.score,
            "because": None if self.because is None else self.because.to_json(),
            "also": None if self.also is None else self.also.to_json(),
            "tags": self.tags,
        }


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
        embeddings = np.load(self.export_dir / artifacts.EMBEDDINGS_NPY)
        # The unit movie vectors, for movie-to-movie cosines (beyond them: the release-age code, if any).
        self.embeddings = embeddings[:, : int(self.manifest.get("movie_vector_dim", embeddings.shape[1]))]
        ids = np.load(self.export_dir / artifacts.MOVIE_IDS_NPY)
        self.dense = {int(m): i for i, m in enumerate(ids) if i > 0}
        self.info = {
            int(m): (str(t), int(y), str(g))
            for m, t, y, g in zip(
                self.movies.index, self.movies.title, self.movies.year, self.movies.genres, strict=True
            )
        }
        self.top_tags = json.loads((self.export_dir / artifacts.TOP_TAGS_JSON).read_text())

    def search(self, text: str, limit: int = 10) -> list[dict]:
        """Movies whose title holds `text` (case-insensitive): titles starting with it first, then by where
        it appears, then shorter titles, then newer ones."""
        needle = " ".join(text.lower().split())
        if not needle:
            return []
        found = []
        for movie_id, (title, year, _) in self.info.items():
            at = title.lower().find(needle)
            if at >= 0:
                found.append((at > 0, at, len(title), -year, movie_id))
        return [self.movie(m) for *_, m in sorted(found)[:limit]]

    def unknown(self, movie_ids) -> list[int]:
        """The ids among `movie_ids` that are not in the catalog."""
        return [int(m) for m in movie_ids if int(m) not in self.dense]

    def title(self, movie_id: int) -> str:
        """'Title (year)', or the title alone when the year is unknown (for people; JSON has movie())."""
        title, year, _ = self.info[movie_id]
        return f"{title} ({year})" if year else title

    def movie(self, movie_id: int) -> dict:
        """The JSON of a movie, the same in every answer: movie_id, title (without the year), year, genres."""
        title, year, genres = self.info[movie_id]
        return {"movie_id": int(movie_id), "title": title, "year": year, "genres": genres}

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
        return self._results(out["movie_ids"][0, :k].numpy(), out["scores"][0, :k].numpy(), history)

    def similar(self, movie_id: int, k: int = 10) -> list[Result]:
        """The k movies closest to `movie_id` (itself excluded)."""
        out = self.model.signatures["similar_movies"](movie_ids=tf.constant([movie_id], tf.int64))
        return self._results(out["movie_ids"][0, :k].numpy(), out["scores"][0, :k].numpy(), [])

    def anchors(self, movie_ids: list[int], history: list[tuple[int, float]]) -> list[tuple[Anchor | None, ...]]:
        """(because, also) for each of `movie_ids` from the history [(movie_id, rating)] (see Result)."""
        known = list(dict((m, r) for m, r in history if m in self.dense).items())  # the last rating of each
        if not known or not movie_ids:
            return [(None, None)] * len(movie_ids)
        anchors = np.array([self.dense[m] for m, _ in known])
        sims = self.embeddings[[self.dense[m] for m in movie_ids]] @ self.embeddings[anchors].T  # [R, H]
        liked = np.array([r >= LIKED_RATING for _, r in known])
        if not liked.any():
            liked[:] = True  # nothing rated 4+: the closest history movies explain, whatever their rating
        uses = np.zeros(len(known), np.int64)
        out = []
        for row in sims:
            near = liked & (row >= row[liked].max() - SPREAD_BAND)
            candidates = np.flatnonzero(near)
            best = candidates[np.lexsort((-row[candidates], uses[candidates]))[0]]
            uses[best] += 1
            other = next((int(o) for o in np.argsort(-row, kind="stable") if o != best), None)
            out.append(tuple(None if i is None else Anchor(self.movie(known[i][0]), float(known[i][1]), float(row[i]))
                             for i in (int(best), other)))  # fmt: skip
        return out

    def _results(self, movie_ids: np.ndarray, scores: np.ndarray, history: list[tuple[int, float]]) -> list[Result]:
        kept = [(m, s) for m, s in zip(movie_ids.tolist(), scores.tolist(), strict=True)
                if m != 0 and math.isfinite(s)]  # fewer than k movies outside the exclusions  # fmt: skip
        explained = self.anchors([m for m, _ in kept], history)
        return [
            Result(rank, self.movie(m), round(s, 4), because, also, [t for t, _ in self.top_tags.get(str(m), [])])
            for rank, ((m, s), (because, also)) in enumerate(zip(kept, explained, strict=True), start=1)
        ]
