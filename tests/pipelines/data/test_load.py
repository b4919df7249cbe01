"""Every kind of bad input a MovieLens release can hold meets a DataError naming the file, line and value."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pipelines.data.errors import DataError
from pipelines.data.load import load_release
from tests.conftest import SMALL_RELEASE, write_release


def with_change(name: str, old: str, new: str) -> dict:
    assert old in SMALL_RELEASE[name], old
    return {**SMALL_RELEASE, name: SMALL_RELEASE[name].replace(old, new, 1)}


BAD_INPUTS = {
    "missing file": ({**SMALL_RELEASE, "movies.csv": None}, r"movies\.csv: missing file"),
    "empty file": ({**SMALL_RELEASE, "ratings.csv": ""}, r"ratings\.csv: empty file"),
    "header only": ({**SMALL_RELEASE, "ratings.csv": "userId,movieId,rating,timestamp\n"},
                    r"ratings\.csv: no data rows"),
    "wrong header": (with_change("ratings.csv", "userId,movieId", "user,movieId"),
                     r"ratings\.csv, line 1: wrong header 'user,movieId,rating,timestamp'"),
    "missing header": ({**SMALL_RELEASE, "ratings.csv": SMALL_RELEASE["ratings.csv"].split("\n", 1)[1]},
                       r"ratings\.csv, line 1: wrong header '1,1,4.0,100'"),
    "non-numeric user id": (with_change("ratings.csv", "2,1,2.0,150", "x2,1,2.0,150"),
                            r"ratings\.csv, line 5: userId 'x2' is not an integer"),
    "non-numeric movie id": (with_change("movies.csv", "11,", "eleven,"),
                             r"movies\.csv, line 3: movieId 'eleven' is not an integer"),
    "empty id": (with_change("ratings.csv", "2,1,2.0,150", ",1,2.0,150"), r"ratings\.csv, line 5: userId is empty"),
    "rating above 5": (with_change("ratings.csv", "1,20,5.0", "1,20,5.5"),
                       r"ratings\.csv, line 4: rating 5\.5 is outside 0\.5\.\.5"),
    "rating zero": (with_change("ratings.csv", "2,1,2.0", "2,1,0"), r"ratings\.csv, line 5: rating 0 is outside"),
    "rating off grid": (with_change("ratings.csv", "1,11,3.5", "1,11,3.7"),
                        r"ratings\.csv, line 3: rating 3\.7 is outside 0\.5\.\.5 or off the half-star grid"),
    "rating not a number": (with_change("ratings.csv", "1,11,3.5", "1,11,good"),
                            r"ratings\.csv, line 3: rating 'good' is not a number"),
    "negative timestamp": (with_change("ratings.csv", "1,11,3.5,200", "1,11,3.5,-200"),
                           r"ratings\.csv, line 3: timestamp -200 is negative"),
    "non-integer timestamp": (with_change("ratings.csv", "1,11,3.5,200", "1,11,3.5,200.5"),
                              r"ratings\.csv, line 3: timestamp '200\.5' is not an integer"),
    "truncated last line": ({**SMALL_RELEASE, "ratings.csv": SMALL_RELEASE["ratings.csv"][:-3]},
                            r"ratings\.csv: truncated last line"),
    "too few fields": (with_change("ratings.csv", "2,1,2.0,150", "2,1"),
                       r"ratings\.csv, line 5: expected 4 fields separated by ',', got 2"),
    "not utf-8 in movies": ({**SMALL_RELEASE, "movies.csv": SMALL_RELEASE["movies.csv"].encode().replace(
        b"Babylon", b"Bab\xffylon")}, r"movies\.csv, line 4: bytes that are not UTF-8"),
    "not utf-8 in tags": ({**SMALL_RELEASE, "tags.csv": SMALL_RELEASE["tags.csv"].encode().replace(
        b"late", b"l\xe9te")}, r"tags\.csv, line 4: bytes that are not UTF-8"),
    "duplicate rating": (with_change("ratings.csv", "2,31,4.5,400", "2,1,4.5,400"),
                         r"ratings\.csv, line 6: duplicate rating of movieId 1 by userId 2"),
    "duplicate movie": (with_change("movies.csv", "20,Babylon", "11,Babylon"),
                        r"movies\.csv, line 4: duplicate movieId 11"),
    "unknown genre": (with_change("movies.csv", "Sci-Fi", "Space"), r"movies\.csv, line 4: unknown genre 'Space'"),
    "rating of unknown movie": (with_change("ratings.csv", "3,20,1.0", "3,21,1.0"),
                                r"ratings\.csv, line 8: movieId 21 is not in the catalog"),
    "tag of unknown movie": (with_change("tags.csv", "3,31,late", "3,32,late"),
                             r"tags\.csv, line 4: movieId 32 is not in the catalog"),
    "genome row for unknown movie": (with_change("genome-scores.csv", "11,1,0.1\n11,2,0.4", "12,1,0.1\n12,2,0.4"),
                                     r"genome-scores\.csv, line 4: movieId 12 is not in the catalog"),
    "genome row for unknown tag": (with_change("genome-scores.csv", "11,2,0.4", "11,3,0.4"),
                                   r"genome-scores\.csv, line 5: tagId 3 is not in the catalog"),
    "relevance above 1": (with_change("genome-scores.csv", "1,2,0.9", "1,2,1.2"),
                          r"genome-scores\.csv, line 3: relevance 1\.2 is outside \[0, 1\]"),
    "relevance negative": (with_change("genome-scores.csv", "1,2,0.9", "1,2,-0.1"),
                           r"genome-scores\.csv, line 3: relevance -0\.1 is outside \[0, 1\]"),
    "genome not dense": (with_change("genome-scores.csv", "11,2,0.4\n", ""),
                         r"genome-scores\.csv: genome is not dense: movieId 11 has no score for tagId 2"),
    "genome tags without scores": ({**SMALL_RELEASE, "genome-scores.csv": None},
                                   r"genome-scores\.csv: missing file"),
}  # fmt: skip


@pytest.mark.parametrize("files, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_named_with_file_and_line(tmp_path: Path, files: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_release(write_release(tmp_path / "release", files))


def test_good_release_loads_with_all_columns(hand_release: Path) -> None:
    raw = load_release(hand_release)
    np.testing.assert_array_equal(raw.movie_ids, [1, 11, 20, 31])
    assert raw.titles[1] == "American President, The (1995)"
    assert len(raw.ratings) == 8 and raw.ratings.dtype == np.float32
    assert raw.tags.to_pylist() == ["Pixar", "pixar ", "late"]
    np.testing.assert_array_equal(raw.tmdb_ids, [862, 9087, -1, 9909])
    assert raw.imdb_ids[0] == "0114709"
    assert raw.genome_tags == ["007", "funny"]
    np.testing.assert_allclose(raw.genome, [[0.025, 0.9], [0.1, 0.4]])
    assert raw.dropped == {}


def test_crlf_line_ends_and_integer_ratings_load(tmp_path: Path) -> None:
    files = {name: text.replace("\n", "\r\n") for name, text in SMALL_RELEASE.items()}
    files["ratings.csv"] = files["ratings.csv"].replace("4.0", "4").replace("2.0", "2")
    raw = load_release(write_release(tmp_path / "crlf", files))
    assert raw.titles[1] == "American President, The (1995)"
    assert raw.ratings[0] == 4.0 and len(raw.ratings) == 8


def test_release_without_genome_loads(tmp_path: Path) -> None:
    files = {**SMALL_RELEASE, "genome-scores.csv": None, "genome-tags.csv": None}
    raw = load_release(write_release(tmp_path / "no-genome", files))
    assert raw.genome is None and raw.genome_tags is None


def test_unsorted_ratings_load_and_duplicates_are_still_found(tmp_path: Path) -> None:
    lines = SMALL_RELEASE["ratings.csv"].splitlines()
    shuffled = "\n".join([lines[0], *reversed(lines[1:])]) + "\n"
    raw = load_release(write_release(tmp_path / "a", {**SMALL_RELEASE, "ratings.csv": shuffled}))
    assert len(raw.ratings) == 8
    with pytest.raises(DataError, match=r"duplicate rating of movieId 31 by userId 3"):
        load_release(write_release(tmp_path / "b", {**SMALL_RELEASE, "ratings.csv": shuffled + "3,31,1.0,9\n"}))


def test_drop_orphans_drops_and_counts(tmp_path: Path) -> None:
    files = with_change("ratings.csv", "3,20,1.0", "3,21,1.0")
    files = {**files, "genome-scores.csv": files["genome-scores.csv"] + "99,1,0.5\n99,2,0.5\n"}
    raw = load_release(write_release(tmp_path / "orphans", files), drop_orphans=True)
    assert len(raw.ratings) == 7
    assert raw.dropped == {"ratings.csv:movieId": 1, "genome-scores.csv:movieId": 2}
    assert 21 not in raw.rating_movie_ids.tolist()


def test_error_message_is_one_line(tmp_path: Path) -> None:
    files = with_change("ratings.csv", "1,11,3.5", "1,11,3.7")
    with pytest.raises(DataError) as error:
        load_release(write_release(tmp_path / "release", files))
    assert "\n" not in str(error.value)
    assert re.search(r"release/ratings\.csv", str(error.value))


def test_synthetic_release_loads(tiny_release: Path) -> None:
    raw = load_release(tiny_release)
    assert len(raw.ratings) == 15_000
    assert raw.genome is not None and raw.genome.shape == (200, 24)
    assert set(np.unique(raw.ratings * 2).astype(int)) <= set(range(1, 11))
