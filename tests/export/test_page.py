"""The page at GET / of export.serve, in a real headless browser: Debian's chromium driven by Selenium.

A person types a few titles, picks movies with the keyboard and the mouse, and the recommendations that
appear must leave those movies out and be exactly what the API answers for the same ratings. Skipped when
no chromium is installed, unless REQUIRE_BROWSER is set (.ci/run sets it and installs chromium).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

from export.bundle import Export
from tests.conftest import start_module

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    if os.environ.get("REQUIRE_BROWSER"):
        raise RuntimeError("REQUIRE_BROWSER is set but chromium and chromedriver are not installed")
    pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server(export_dir: Path):
    child = start_module("export.serve", f"--export_dir={export_dir}", "--port=0")
    line = child.stdout.readline()
    assert line, child.stderr.read()[-3000:]
    yield json.loads(line)["url"]
    child.terminate()
    child.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def shown_ids(browser, list_id: str) -> list[int]:
    """The movie ids a list shows, read in one script call (the page may re-render between two reads)."""
    return browser.execute_script(
        f"return [...document.querySelectorAll('#{list_id} > li')].map(li => Number(li.dataset.movieId));"
    )


def answered(browser, list_id: str, key: str) -> str:
    return browser.execute_script(f"return document.getElementById('{list_id}').dataset.{key} || '';")


def test_typing_movies_gives_the_apis_recommendations(server: str, browser, export_dir: Path) -> None:
    export = Export(export_dir, "brute_force")  # only for titles: the page's answers come from the server
    titles = [export.info[m][0] for m in list(export.dense)[:40]]
    words = [t.split()[0] for t in titles if t.split()][:3]
    wait = WebDriverWait(browser, 20)
    browser.get(server)
    assert browser.title == "Try the recommender"
    search = browser.find_element(By.ID, "search")
    picked: list[int] = []
    for number, word in enumerate(words):
        search.send_keys(word)
        wait.until(lambda b, word=word: answered(b, "matches", "query") == word)
        matches = shown_ids(browser, "matches")
        assert matches and not set(matches) & set(picked)  # movies already rated are not offered again
        if number % 2 == 0:
            search.send_keys(Keys.ENTER)  # the keyboard: Enter takes the first match
        else:
            browser.find_element(By.CSS_SELECTOR, f'#matches button[data-movie-id="{matches[0]}"]').click()
        picked.append(matches[0])
        wait.until(lambda b: shown_ids(b, "history") == picked)
    history = ",".join(f"{m}:4.5" for m in picked)  # the page's default rating
    wait.until(lambda b: answered(b, "recommendations", "history") == history)
    shown = shown_ids(browser, "recommendations")
    assert len(shown) == 10 and not set(shown) & set(picked)

    with urllib.request.urlopen(f"{server}/recommend?history={history}&k=10") as reply:
        expected = [r["movie_id"] for r in json.load(reply)["recommendations"]]
    assert shown == expected
    text = browser.find_element(By.ID, "recommendations").text
    assert "because you liked" in text and export.info[shown[0]][0] in text

    browser.find_element(By.CSS_SELECTOR, "#recommendations > li button").click()  # similar movies
    wait.until(lambda b: len(shown_ids(b, "similar")) == 10)
    assert browser.find_element(By.ID, "similar-title").text.startswith("Similar to ")
    assert shown[0] not in shown_ids(browser, "similar")
