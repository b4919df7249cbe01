"""The older layouts (ml-10m, ml-1m, ml-100k): read into the CSV release's tables, and their bad input named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.data import releases
from pipelines.data.errors import DataError
from pipelines.data.load import load_release, read_ratings
from pipelines.data.synthetic.layouts import latin1, old_genres, whole_stars
from pipelines.data.synthetic.release import generate
from tests.conftest import write_release

ML_1M = {
    "ratings.dat": "1::1::5::978300760\n1::73::3::978302109\n2::1::4::978301968\n2::3952::2::978300275\n",
    "movies.dat": "1::Toy Story (1995)::Animation|Children's|Comedy\n73::Misérables, Les (1995)::Drama|Musical\n"
    "3952::Contender, The (2000)::Drama|Thriller\n".encode("latin-1"),
    "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n",
}
ML_10M = {
    "ratings.dat": "1::122::5::838985046\n1::185::4.5::838983525\n3::122::0.5::1136075500\n",
    "movies.dat": "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action|Crime|Thriller\n"
    "8606::Pull My Daisy (1958)::(no genres listed)\n",
    "tags.dat": "15::122::excellent!::1215184630\n20::185::time::travel::1188263867\n",
}
GENRE_LIST = "".join(f"{name}|{i}\n" for i, name in enumerate(("unknown", "Action", "Adventure", "Animation",
    "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western"))) + "\n"  # fmt: skip


def item(movie_id: int, title: str, flags: set[int], date: str = "01-Jan-1995") -> str:
    return "|".join([str(movie_id), title, date, "", "http://us.imdb.com/M/title-exact?x",
                     *("1" if i in flags else "0" for i in range(19))]) + "\n"  # fmt: skip


ML_100K = {
    "u.data": "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t242\t1\t878887116\n",
    "u.item": (
        item(242, "Kolya (1996)", {5})
        + item(267, "unknown", {0}, date="")
        + item(302, "L.A. Confidential (1997)", {6, 10, 16})
    ).encode("latin-1"),
    "u.genre": GENRE_LIST,
}


def test_layouts_are_detected_from_their_files(tmp_path: Path) -> None:
    for name, files in (("1m", ML_1M), ("10m", ML_10M), ("100k", ML_100K)):
        assert releases.detect_layout(write_release(tmp_path / name, files)).name == name
    assert releases.detect_layout(tmp_path) is None


def test_every_release_is_registered_with_its_layout() -> None:
    assert set(releases.RELEASES) == {"ml-latest", "ml-latest-small", "ml-32m", "ml-25m", "ml-20m", "ml-10m",
                                      "ml-1m", "ml-100k"}  # fmt: skip
    # ml-20m is the CSV layout with a genome: its registry entry is all it takes (test_download fetches it).
    ml_20m = releases.get_release("ml-20m")
    assert (ml_20m.layout, ml_20m.has_genome, ml_20m.ratings) == ("csv", True, 20_000_263)
    assert ml_20m.files == releases.get_release("ml-latest").files
    assert [releases.get_release(n).layout for n in ("ml-10m", "ml-1m", "ml-100k")] == ["10m", "1m", "100k"]


def test_hand_made_releases_load_as_the_csv_releases_would(tmp_path: Path) -> None:
    one = load_release(write_release(tmp_path / "1m", ML_1M))
    np.testing.assert_array_equal(one.movie_ids, [1, 73, 3952])
    assert one.titles[1] == "Misérables, Les (1995)"  # Latin-1
    assert one.genres[0] == "Animation|Children|Comedy"  # Children's, as the CSV releases spell it
    np.testing.assert_array_equal(one.ratings, [5, 3, 4, 2])
    assert len(one.tags) == 0 and len(one.link_movie_ids) == 0 and one.genome is None
    assert one.demographics.column("zip").to_pylist() == ["48067", "70072"]

    ten = load_release(write_release(tmp_path / "10m", ML_10M))
    np.testing.assert_array_equal(ten.ratings, [5, 4.5, 0.5])
    assert ten.genres[2] == "(no genres listed)" and ten.demographics is None
    assert ten.tags.to_pylist() == ["excellent!", "time::travel"]  # a tag may hold the separator

    hundred = load_release(write_release(tmp_path / "100k", ML_100K))
    np.testing.assert_array_equal(hundred.movie_ids, [242, 267, 302])
    assert hundred.genres == ["Comedy", "(no genres listed)", "Crime|Film-Noir|Thriller"]
    np.testing.assert_array_equal(hundred.user_ids, [196, 186, 22])
    path, users, *_ = read_ratings(tmp_path / "100k")
    assert path.name == "u.data" and users.tolist() == [196, 186, 22]


@pytest.fixture(scope="module")
def csv_release(tiny_release: Path):
    return load_release(tiny_release)


@pytest.mark.parametrize("layout", ["10m", "1m", "100k"])
def test_a_generated_layout_reads_back_the_csv_release(layout: str, csv_release, tmp_path: Path) -> None:
    """The same seed in another layout: the same tables, changed only as that layout differs."""
    raw = load_release(generate(tmp_path / layout, "tiny", seed=1, layout=layout))
    expected = csv_release
    np.testing.assert_array_equal(raw.movie_ids, expected.movie_ids)
    for name in ("user_ids", "rating_movie_ids", "timestamps"):
        np.testing.assert_array_equal(getattr(raw, name), getattr(expected, name))
    if layout == "10m":
        assert raw.titles == expected.titles and raw.genres == expected.genres
        np.testing.assert_array_equal(raw.ratings, expected.ratings)
        assert raw.tags.to_pylist() == expected.tags.to_pylist()
        np.testing.assert_array_equal(raw.tag_timestamps, expected.tag_timestamps)
    else:
        assert raw.titles == [latin1(t) for t in expected.titles]
        assert any(t != latin1(t) for t in expected.titles)  # the check above is not vacuous
        old = ["|".join(g.replace("Children's", "Children") for g in old_genres(x)) or "(no genres listed)"
               for x in expected.genres]  # fmt: skip
        assert raw.genres == old
        np.testing.assert_array_equal(raw.ratings, whole_stars(expected.ratings))
        assert len(raw.tags) == 0
    assert len(raw.link_movie_ids) == 0 and raw.genome is None
    assert (raw.demographics is not None) == (layout == "1m")


def change(files: dict, name: str, old: str | bytes, new: str | bytes) -> dict:
    text = files[name]
    if isinstance(text, bytes) and isinstance(old, str):
        old, new = old.encode("latin-1"), new.encode("latin-1")
    assert old in text, old
    return {**files, name: text.replace(old, new, 1)}


BAD_INPUTS = {
    "1m wrong separator": (change(ML_1M, "ratings.dat", "1::73::3", "1:73::3"),
                           r"ratings\.dat, line 2: expected 4 fields separated by '::', got 3"),
    "1m non-numeric id": (change(ML_1M, "ratings.dat", "2::1::4", "two::1::4"),
                          r"ratings\.dat, line 3: userId 'two' is not an integer"),
    "1m half star": (change(ML_1M, "ratings.dat", "1::73::3", "1::73::3.5"),
                     r"ratings\.dat, line 2: rating 3\.5 is outside 1\.\.5 or off the whole-star grid"),
    "1m utf-8 movies": (change(ML_1M, "movies.dat", "Misérables".encode("latin-1"), "Misérables".encode()),
                        r"movies\.dat, line 2: bytes that are not Latin-1 text"),
    "1m truncated": ({**ML_1M, "ratings.dat": ML_1M["ratings.dat"][:-1]}, r"ratings\.dat: truncated last line"),
    "1m unknown movie": (change(ML_1M, "ratings.dat", "2::3952::2", "2::3953::2"),
                         r"ratings\.dat, line 4: movieId 3953 is not in the catalog"),
    "1m bad gender": (change(ML_1M, "users.dat", "2::M::", "2::X::"), r"users\.dat, line 2: gender 'X' is not M or F"),
    "1m missing users.dat": ({**ML_1M, "users.dat": None},
                             r"release: ratings\.dat without users\.dat \(ml-1m\) or tags\.dat \(ml-10m\)"),
    "10m off scale": (change(ML_10M, "ratings.dat", "::0.5::", "::0::"),
                      r"ratings\.dat, line 3: rating 0 is outside 0\.5\.\.5 or off the half-star grid"),
    "10m not utf-8": ({**ML_10M, "movies.dat": ML_10M["movies.dat"].encode().replace(b"Boomerang", b"Boom\xe9rang")},
                      r"movies\.dat, line 1: bytes that are not UTF-8"),
    "10m tab separated": (change(ML_10M, "ratings.dat", "1::185::4.5::838983525", "1\t185\t4.5\t838983525"),
                          r"ratings\.dat, line 2: expected 4 fields separated by '::', got 1"),
    "10m tag of unknown movie": (change(ML_10M, "tags.dat", "15::122::", "15::123::"),
                                 r"tags\.dat, line 1: movieId 123 is not in the catalog"),
    "100k off scale": (change(ML_100K, "u.data", "22\t242\t1", "22\t242\t6"),
                       r"u\.data, line 3: rating 6 is outside 1\.\.5"),
    "100k comma separated": (change(ML_100K, "u.data", "186\t302\t3\t891717742", "186,302,3,891717742"),
                             r"u\.data, line 2: expected 4 fields separated by '\\t', got 1"),
    "100k unknown movie": (change(ML_100K, "u.data", "186\t302", "186\t303"),
                           r"u\.data, line 2: movieId 303 is not in the catalog"),
    "100k bad flag": (change(ML_100K, "u.item", "Kolya (1996)|01-Jan-1995||http://us.imdb.com/M/title-exact?x|0",
                             "Kolya (1996)|01-Jan-1995||http://us.imdb.com/M/title-exact?x|2"),
                      r"u\.item, line 1: is_unknown '2' is not a 0/1 flag"),
    "100k missing flag": (change(ML_100K, "u.item", "|0\n267|", "\n267|"),
                          r"u\.item, line 1: expected 24 fields separated by '\|', got 23"),
    "100k bad date": (change(ML_100K, "u.item", "01-Jan-1995", "1995-01-01"),
                      r"u\.item, line 1: release_date '1995-01-01' is not a date like 01-Jan-1995"),
    "100k unknown genre": (change(ML_100K, "u.genre", "Western|18", "Space|18"),
                           r"u\.genre, line 19: unknown genre 'Space'"),
    "100k item not latin-1": (change(ML_100K, "u.item", b"Kolya", b"Kol\x81ya"),
                              r"u\.item, line 1: bytes that are not Latin-1 text"),
    "100k truncated item": ({**ML_100K, "u.item": ML_100K["u.item"][:-3]}, r"u\.item: truncated last line"),
}  # fmt: skip


@pytest.mark.parametrize("files, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_named_with_file_and_line(tmp_path: Path, files: dict, message: str) -> None:
    with pytest.raises(DataError, match=message) as error:
        load_release(write_release(tmp_path / "release", files))
    assert "\n" not in str(error.value)
