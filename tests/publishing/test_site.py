"""The course as a static web site (python -m helpers site): built from the committed
notebooks, every link resolving, nothing loaded from outside, and in headless
Chromium the index lists every notebook, "Next" walks the course in order and
every diagram loads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers.errors import CourseError
from helpers.publishing import site
from tests.support.site_support import browser_walk

NOTEBOOKS = site.notebooks()
REFERENCE = re.compile(r'\b(href|src)="([^"]*)"')
EXTERNAL_LOAD = re.compile(
    r'<script[^>]*\bsrc="(https?:)?//|<link[^>]*\brel="stylesheet"[^>]*\bhref="(https?:)?//'
    r'|<link[^>]*\bhref="(https?:)?//[^"]*"[^>]*\brel="stylesheet"|<iframe[^>]*\bsrc="(https?:)?//'
)
CSS_IMPORT = re.compile(r'@import\s+url\(\s*["\']?(https?:)?//|url\(\s*["\']?(https?:)?//')


def page(path: Path) -> str:
    return f"notebooks/{path.stem}.html"


def saved_pngs(nb: Path) -> int:
    """How many PNG outputs (diagrams) the notebook's saved outputs hold."""
    cells = json.loads(nb.read_text())["cells"]
    return sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))


@pytest.fixture
def built_site(site_report):
    return Path(site_report["out"])


def test_every_notebook_has_a_page_and_every_link_resolves(built_site):
    for nb in NOTEBOOKS:
        assert (built_site / page(nb)).is_file(), f"no page for {nb.name}"
        assert (built_site / "notebooks" / nb.name).is_file(), f"{nb.name} is not offered for download"
    checked = 0
    for html in built_site.rglob("*.html"):
        if html.name == "404.html":
            continue  # MkDocs writes it with site-absolute links, for a web server's error page
        for attr, url in REFERENCE.findall(html.read_text()):
            if re.match(r"([a-z]+:|#|//)", url) or not url:
                continue
            target = (html.parent / url.split("#")[0].split("?")[0]).resolve()
            assert target.exists(), f"{html.relative_to(built_site)}: {attr}={url!r} names no file of the site"
            checked += 1
    assert checked > 100


def test_links_between_notebooks_lead_to_their_pages(built_site):
    # 01's markdown says [00 · Setup](00-setup.ipynb): on the site it is the rendered page.
    html = (built_site / "notebooks/01-architecture.html").read_text()
    assert 'href="00-setup.html"' in html
    assert not re.search(r'href="[^"]*\.ipynb"(?![^>]*\bdownload\b)', html), "a link still names a notebook file"


def test_nothing_is_loaded_from_outside(built_site):
    for path in [*built_site.rglob("*.html"), *built_site.rglob("*.css")]:
        text = path.read_text(errors="replace")
        pattern = CSS_IMPORT if path.suffix == ".css" else EXTERNAL_LOAD
        match = pattern.search(text)
        assert not match, (
            f"{path.relative_to(built_site)} loads from the network: {text[match.start() : match.start() + 120]}"
        )
    for nb in NOTEBOOKS:
        html = (built_site / page(nb)).read_text()
        # nbconvert's MathJax loader (a CDN address, or an empty one) is removed.
        assert "<!-- Load mathjax -->" not in html and '<script src="">' not in html


def test_site_in_a_browser(site_report):
    walk = browser_walk(site_report)["walk"]
    for nb in NOTEBOOKS:
        assert [page(nb), site.title(nb)] in walk["index_links"], f"the index does not list {nb.name}"
    # "Next", followed from the index, walks through every notebook in order, and stops after the last.
    assert [p["url"] for p in walk["pages"]] == [page(nb) for nb in NOTEBOOKS]
    shown = 0
    for nb, seen in zip(NOTEBOOKS, walk["pages"], strict=False):
        assert seen["heading"].startswith(site.title(nb)), f"{seen['url']} shows {seen['heading']!r}"
        pngs = [i for i in seen["images"] if i["src"].startswith("data:image/png")]
        assert len(pngs) == saved_pngs(nb), f"{seen['url']}: {len(pngs)} diagrams shown, {saved_pngs(nb)} saved"
        broken = [i for i in seen["images"] if not i["width"]]
        assert not broken, f"{seen['url']}: images that did not load: {broken}"
        shown += len(pngs)
    assert shown >= 10, "the course's diagrams"
    # No failed request, no HTTP error, no request off the machine, no JavaScript error.
    assert site_report["problems"] == []


def test_a_broken_link_between_notebooks_fails_the_build(tmp_path):
    import nbformat

    # A one-cell notebook: the build is quick, and fails on the link.
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(
                "# 00 · Tiny\n---\nNext: [the next one](01-missing.ipynb), then [02](02-here.ipynb)."
            )
        ]
    )
    nbformat.write(nb, tmp_path / "00-tiny.ipynb")
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 02 · Here")]), tmp_path / "02-here.ipynb"
    )
    with pytest.raises(CourseError) as raised:
        site.build_site(tmp_path / "site", source=tmp_path)
    assert raised.value.why == (
        "notebooks/00-tiny.ipynb links to '01-missing.ipynb', which is not a file of the course site"
    )  # 02-here.ipynb exists: no complaint
    assert "NN-title.ipynb" in raised.value.fix


def test_math_is_refused_rather_than_shown_raw(tmp_path):
    nb = json.loads(NOTEBOOKS[0].read_text())
    nb["cells"][1]["source"].append("\n$$x^2$$\n")
    (tmp_path / NOTEBOOKS[0].name).write_text(json.dumps(nb))
    with pytest.raises(CourseError, match="math or a Mermaid diagram"):
        site.build_site(tmp_path / "site", source=tmp_path)
    assert not (tmp_path / "site").exists()


def test_a_build_never_empties_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CourseError) as raised:
        site.build_site(tmp_path)
    assert "not empty" in raised.value.what and "python -m helpers site" in raised.value.fix
    assert (tmp_path / "notes.txt").read_text() == "mine"
