"""The files of an export beside the SavedModels: metadata, vocabularies, embeddings, genome tags, projector.

All are plain formats (CSV, JSON, text, .npy) so that they can be read without TensorFlow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.data.content import title_tokens
from pipelines.data.features import Catalog
from pipelines.data.schema import GENRES

MOVIES_CSV = "movies.csv"
TOP_TAGS_JSON = "genome_top_tags.json"
EMBEDDINGS_NPY = "embeddings/movie_embeddings.npy"
MOVIE_IDS_NPY = "embeddings/movie_ids.npy"
PROJECTOR_DIR = "projector"
TAGS_PER_MOVIE = 5


def genre_strings(genres: np.ndarray) -> list[str]:
    """'|'-joined genre names per row of a [m, 20] multi-hot ('' for none)."""
    return ["|".join(GENRES[j] for j in np.flatnonzero(row)) for row in np.asarray(genres)]


def movie_table(catalog: Catalog) -> pd.DataFrame:
    """One row per movie (dense index 1..n): ids, display title, year (0 unknown), genres, imdb/tmdb ids."""
    rows = slice(1, None)
    return pd.DataFrame(
        {
            "dense_index": np.arange(1, catalog.num_movies + 1),
            "movie_id": np.asarray(catalog.movie_ids[rows], np.int64),
            "title": catalog.clean_titles[rows],
            "original_title": catalog.titles[rows],
            "year": np.asarray(catalog.years[rows], np.int64),
            "genres": genre_strings(catalog.genres[rows]),
            "imdb_id": catalog.imdb_ids[rows],
            "tmdb_id": np.asarray(catalog.tmdb_ids[rows], np.int64),
        }
    )


def top_genome_tags(catalog: Catalog, per_movie: int = TAGS_PER_MOVIE) -> dict[str, list[list]]:
    """Per movie with a genome: the tags it is most distinctive in, as [[tag, relevance], ...].

    Ranked by relevance minus the tag's mean relevance over all genome movies, so that tags every
    movie scores high on (say "original") do not crowd out the ones that set this movie apart.
    """
    genome = np.asarray(catalog.genome, np.float32)
    if genome.size == 0:
        return {}
    per_movie = min(per_movie, genome.shape[1])
    distinct = genome - genome.mean(axis=0, keepdims=True)
    best = np.argpartition(-distinct, per_movie - 1, axis=1)[:, :per_movie]
    best = np.take_along_axis(best, np.argsort(-np.take_along_axis(distinct, best, 1), axis=1), 1)
    rows = np.asarray(catalog.genome_rows)
    out = {}
    for index in np.flatnonzero(rows >= 0):
        row = rows[index]
        out[str(int(catalog.movie_ids[index]))] = [
            [catalog.genome_tags[t], round(float(genome[row, t]), 4)] for t in best[row]
        ]
    return out


def write_metadata(folder: Path, catalog: Catalog, slots: np.ndarray) -> None:
    """movies.csv, genome_top_tags.json and vocabularies/*.txt.

    Args:
      folder: the export folder being written.
      catalog: the release's movies.
      slots: [n + 1] id-embedding row per dense index (0 = no learned id vector: rated only after T_val).
    """
    movie_table(catalog).to_csv(folder / MOVIES_CSV, index=False)
    (folder / TOP_TAGS_JSON).write_text(json.dumps(top_genome_tags(catalog), ensure_ascii=False))
    vocab = folder / "vocabularies"
    vocab.mkdir()
    ids = np.asarray(catalog.movie_ids, np.int64)
    slots = np.asarray(slots)
    history_ids = ids[1:][np.argsort(slots[1:], kind="stable")][np.sort(slots[1:]) > 0]

    def write(name: str, values) -> None:
        (vocab / name).write_text("".join(f"{v}\n" for v in values))

    write("movie_ids.txt", ids[1:])  # candidates: line i is dense index i + 1
    write("history_movie_ids.txt", history_ids)  # query side: movies with a learned id vector, by slot
    write("genres.txt", GENRES)
    write("genome_tags.txt", catalog.genome_tags)
    write("title_words.txt", title_tokens(catalog.clean_titles)[1])


def write_embeddings(folder: Path, catalog: Catalog, embeddings: np.ndarray) -> None:
    """embeddings/movie_embeddings.npy [n + 1, d] (row 0 zeros) and embeddings/movie_ids.npy [n + 1]."""
    (folder / "embeddings").mkdir()
    np.save(folder / EMBEDDINGS_NPY, np.asarray(embeddings, np.float32))
    np.save(folder / MOVIE_IDS_NPY, np.asarray(catalog.movie_ids, np.int64))


def _tsv_cell(text: str) -> str:
    return " ".join(str(text).split())  # no tabs or newlines inside a cell


def write_projector(folder: Path, catalog: Catalog, embeddings: np.ndarray) -> Path:
    """TensorBoard projector files in folder/projector: `tensorboard --logdir <export_dir>` shows the
    movie embeddings labelled with title, year and genres.

    The folder also gets an (empty) event file, which makes it a TensorBoard run: the projector plugin
    looks for projector_config.pbtxt in each run.
    """
    import tensorflow as tf
    from tensorboard.plugins import projector

    out = folder / PROJECTOR_DIR
    out.mkdir()
    table = movie_table(catalog)
    lines = ["title\tyear\tgenres\tmovie_id"] + [
        f"{_tsv_cell(t)}\t{y or ''}\t{_tsv_cell(g) or '(no genres listed)'}\t{m}"
        for t, y, g, m in zip(table.title, table.year, table.genres, table.movie_id, strict=True)
    ]
    (out / "metadata.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    checkpoint = tf.train.Checkpoint(movie_embeddings=tf.Variable(np.asarray(embeddings[1:], np.float32)))
    checkpoint.save(str(out / "embeddings.ckpt"))
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = "movie_embeddings/.ATTRIBUTES/VARIABLE_VALUE"
    embedding.metadata_path = "metadata.tsv"
    projector.visualize_embeddings(str(out), config)
    writer = tf.summary.create_file_writer(str(out))
    with writer.as_default():
        tf.summary.text("about", "Movie embeddings of the two-tower model: see the Projector tab.", step=0)
    writer.close()
    return out
