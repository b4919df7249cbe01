"""Recommendations from an export, explained:

    python -m export.query --export_dir=DIR --history=1:5,260:4.5,1196:4      (movieId:rating, oldest first)
    python -m export.query --export_dir=DIR --user_id=42 [--data_dir=RELEASE]  (that user's ratings)
    python -m export.query --export_dir=DIR --similar_to=1

Prints rank, title (year), genres and score, and why: the history movie closest to each recommendation
("because you liked ...") and the genome tags the recommended movie is most distinctive in.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import numpy as np
from absl import app

from export.bundle import LIKED_RATING, Export, Result, parse_history
from export.config import QueryConfig
from pipelines import cli
from pipelines.console import plural
from pipelines.data import releases
from pipelines.data.download import resolve_data_dir
from pipelines.data.errors import DataError
from pipelines.data.load import read_ratings

CLOSE_SIMILARITY = 0.3  # below this cosine a history movie is not much of a reason: say "nearest" instead


def user_history(folder: Path, user_id: int) -> tuple[list[tuple[int, float]], list[int]]:
    """A user's ratings from a release's ratings file, oldest first: [(movie_id, rating)], [timestamp]."""
    path, users, movies, ratings, stamps = read_ratings(folder)  # validated as training reads it
    mine = np.flatnonzero(users == user_id)
    if len(mine) == 0:
        raise DataError(f"user {user_id} has no ratings", path=path)
    order = mine[np.lexsort((movies[mine], stamps[mine]))]
    return [(int(movies[i]), float(ratings[i])) for i in order], [int(stamps[i]) for i in order]


def data_folder(config: QueryConfig, manifest: dict) -> Path:
    """The release folder of --user_id: --data_dir (a folder or zip), else the data the model was trained on."""
    if config.data_dir:
        cache = Path(config.cache_dir).expanduser()
        return resolve_data_dir(config.data_dir, releases.DEFAULT_RELEASE, cache, progress=False)
    trained_on = manifest["data"]["figures"].get("data_dir")
    if not trained_on or not releases.detect_layout(Path(trained_on)):
        raise DataError("--user_id needs --data_dir: the export does not name a release folder that still exists")
    return Path(trained_on)


def format_results(export: Export, results: list[Result], header: str) -> str:
    """A readable table: rank, score, title (year), genres; then the explanation line."""
    lines = [header, f"{'rank':>4}  {'score':>6}  movie"]
    for r in results:
        title = export.title(r.movie_id)
        lines.append(f"{r.rank:>4}  {r.score:>6.3f}  {title}  [{r.movie['genres'] or '(no genres listed)'}]")
        why = []
        if r.because is not None:
            liked = r.because.rating >= LIKED_RATING and r.because.similarity >= CLOSE_SIMILARITY
            reason = "because you liked" if liked else "nearest in your history:"
            why.append(f"{reason} {export.title(r.because.movie['movie_id'])} (similarity {r.because.similarity:.2f})")
        if r.also is not None:
            why.append(f"also near {export.title(r.also.movie['movie_id'])} ({r.also.similarity:.2f})")
        if r.tags:
            why.append("strongest genome tags: " + ", ".join(r.tags))
        if why:
            lines.append(" " * 14 + "; ".join(why))
    return "\n".join(lines)


def run(config: QueryConfig) -> str:
    """The printed answer for one query configuration."""
    modes = [config.history is not None, config.user_id is not None, config.similar_to is not None]
    if sum(modes) != 1:
        raise DataError("give exactly one of --history, --user_id, --similar_to")
    if not config.export_dir:
        raise DataError("--export_dir (or --model_dir with an export inside) is required")
    export = Export(config.export_dir, config.index)
    if not 1 <= config.num_results <= export.k:
        raise DataError(f"--num_results must be in 1..{export.k} (the exported k), got {config.num_results}")
    count = config.num_results
    if config.similar_to is not None:
        if export.unknown([config.similar_to]):
            raise DataError(f"unknown movieId {config.similar_to}")
        genres = export.info[config.similar_to][2]
        return format_results(
            export,
            export.similar(config.similar_to, count),
            f"Movies similar to {export.title(config.similar_to)} [{genres}]",
        )
    timestamps = None
    if config.history is not None:
        history = parse_history(config.history)
    else:
        folder = data_folder(config, export.manifest)
        history, timestamps = user_history(folder, config.user_id)
    unknown = export.unknown(m for m, _ in history)
    if unknown:
        raise DataError(f"unknown movieIds in the history: {', '.join(map(str, unknown[:20]))}")
    query_time = config.query_time
    if query_time is None and timestamps:
        query_time = timestamps[-1] + 1
    results = export.recommend(history, count, query_time, timestamps)
    when = datetime.datetime.fromtimestamp(query_time or export.default_query_time, datetime.timezone.utc)
    who = f"user {config.user_id}" if config.user_id is not None else "the given history"
    about = f"{plural(len(history), 'rating')}; {config.index} index; query time {when:%Y-%m-%d}"
    header = f"Top {len(results)} for {who} ({about})"
    return format_results(export, results, header)


@cli.exits_2_on_bad_input
def main(argv: list[str]) -> None:
    flags = cli.FLAGS
    export_dir = flags.export_dir or (str(Path(flags.model_dir) / "export") if flags.model_dir else None)
    config = dataclasses.replace(cli.config_from_flags(QueryConfig), export_dir=export_dir)
    print(run(config))


if __name__ == "__main__":
    cli.define_all_flags(QueryConfig, "model_dir")
    app.run(main, flags_parser=cli.parse_flags)
