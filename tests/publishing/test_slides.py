"""Slides from the notebooks (python -m helpers slides): reveal.js decks cut at the
headings, diagrams embedded, reveal.js beside them so they run offline, and
the committed notebooks left untouched.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import nbformat
import pytest

from helpers import workspace
from helpers.errors import CourseError
from helpers.publishing import slides
from tests.support.site_support import SLIDE_NOTEBOOKS, browser_walk

NOTEBOOKS = [workspace.NOTEBOOK_DIR / name for name in SLIDE_NOTEBOOKS]
SECTION = re.compile(r"<section\b")
EXTERNAL_LOAD = re.compile(r'<script[^>]*\bsrc="(https?:)?//|<link[^>]*\bhref="(https?:)?//')


def deck(folder, nb):
    return folder / f"{nb.stem}.slides.html"


@pytest.fixture
def built_slides(slides_report):
    return Path(slides_report["out"])


def test_headings_cut_the_slides():
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    slides.add_slide_metadata(nb)
    kinds = [(cell.metadata["slideshow"]["slide_type"], cell.source.split("\n", 1)[0]) for cell in nb.cells]
    assert kinds[0][0] == "slide"
    for kind, first_line in kinds:
        if re.match(r"#{1,2} ", first_line):
            assert kind == "slide", first_line
        elif first_line.startswith("### "):
            assert kind == "subslide", first_line
    assert {kind for kind, _ in kinds} <= {"slide", "subslide", "-"}
    assert sum(kind == "slide" for kind, _ in kinds) >= 8


def test_decks_have_slides_and_embedded_diagrams(built_slides):
    index = (built_slides / "index.html").read_text()
    for nb in NOTEBOOKS:
        html = deck(built_slides, nb).read_text()
        assert f'href="{deck(built_slides, nb).name}"' in index
        assert len(SECTION.findall(html)) >= 8, f"{nb.name}: too few slides"
        pngs = len(re.findall(r'<img[^>]*src="data:image/png;base64,', html))
        saved = sum(
            "image/png" in o.get("data", {})
            for c in nbformat.read(nb, as_version=4).cells
            for o in c.get("outputs", [])
        )
        assert pngs == saved >= 1, f"{nb.name}: {pngs} diagrams embedded, {saved} saved"
        match = EXTERNAL_LOAD.search(html)
        assert not match, f"{nb.name} loads from the network: {html[match.start() : match.start() + 120]}"
        for local in re.findall(r'(?:src|href)="(reveal\.js/[^"]+)"', html):
            assert (built_slides / local).is_file(), f"{local} is not beside the slides"
    theme = (built_slides / "reveal.js/dist/theme/white.css").read_text()
    assert not re.search(r"@import\s+url\(\s*[\"']?https?:", theme), "the theme would load web fonts"


def test_building_slides_leaves_the_notebooks_untouched(tmp_path):
    before = {nb: hashlib.sha256(nb.read_bytes()).hexdigest() for nb in NOTEBOOKS}
    slides.build_slides(tmp_path / "slides", NOTEBOOKS[:1])  # reveal.js is in the workspace by now
    assert {nb: hashlib.sha256(nb.read_bytes()).hexdigest() for nb in NOTEBOOKS} == before
    assert "slideshow" not in NOTEBOOKS[0].read_text()


def test_an_unknown_notebook_is_named(tmp_path):
    with pytest.raises(CourseError, match="99-nope.ipynb is not a notebook"):
        slides.build_slides(tmp_path, [workspace.NOTEBOOK_DIR / "99-nope.ipynb"])


def test_slides_in_a_browser(slides_report):
    decks = browser_walk(slides_report)["walk"]["decks"]
    assert sorted(decks) == sorted(deck(Path("."), nb).name for nb in NOTEBOOKS)
    for name, seen in decks.items():
        assert seen["total"] >= 8, f"{name}: reveal.js counts {seen['total']} slides"
        assert seen["moved"], f"{name}: reveal.js did not move to the next slide"
        assert seen["images"] and all(i["width"] > 0 for i in seen["images"]), f"{name}: {seen['images']}"
    # reveal.js came from the folder: no failed request, nothing off the machine, no JavaScript error.
    assert slides_report["problems"] == []


def test_reveal_js_that_cannot_be_fetched_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "ws"))  # no reveal.js there yet
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")  # nothing listens on port 9
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))  # not served from npm's cache
    with pytest.raises(CourseError) as raised:
        slides.build_slides(tmp_path / "slides", NOTEBOOKS[:1])
    assert "Could not fetch reveal.js" in raised.value.what and "python -m helpers slides" in raised.value.fix
    assert not (tmp_path / "slides").exists()


def test_without_npm_the_message_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setattr(slides.shutil, "which", lambda name: None)
    with pytest.raises(CourseError, match="npm is not installed") as raised:
        slides.reveal_js()
    assert "nodejs.org" in raised.value.fix
