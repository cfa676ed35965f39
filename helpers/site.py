"""Workshop delivery: the course as a static web site and as slides.

    python -m helpers site [OUT]      (make site)    HTML site, default <workspace>/site
    python -m helpers slides [OUT]    (make slides)  reveal.js slides, default <workspace>/slides

Both are built from the committed notebooks and show their saved outputs:
no notebook is executed, no emulator is needed. The site is a standard
MkDocs build (Material theme, notebooks rendered by mkdocs-jupyter); the
slides come from nbconvert's reveal.js exporter. Both work offline once
built: nothing is loaded from a CDN (see site_hooks.py and
templates/course_slides/).

The slides need reveal.js itself, which no Python package ships: the first
build fetches it once from the npm registry (``npm pack``, integrity
checked) into ``<workspace>/vendor/`` and copies it beside the slides.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from . import workspace
from .errors import CourseError

REPO = workspace.REPO
NOTEBOOKS = REPO / "notebooks"
DIAGRAMS = REPO / "diagrams"
HERE = Path(__file__).resolve().parent
SITE_NAME = "ECS behind an ALB, with Terraform"

# reveal.js from the npm registry: version and the registry's sha512 of its tarball.
REVEAL_VERSION = "5.2.1"
REVEAL_INTEGRITY = "sha512-r7//6mIM5p34hFiDMvYfXgyjXqGRta+/psd9YtytsgRlrpRzFv4RbH76TXd2qD+7ZPZEbpBDhdRhJaFgfQ7zNQ=="
# What the slides load from it (the white theme uses fonts shipped beside it;
# other themes import Google Fonts).
REVEAL_FILES = (
    "LICENSE",
    "dist/reveal.css",
    "dist/reveal.js",
    "dist/theme/white.css",
    "dist/theme/fonts/source-sans-pro",
    "plugin/notes/notes.js",
)
REVEAL_INSTALL = "install Node.js (it brings npm): https://nodejs.org, or on Debian/Ubuntu: sudo apt-get install npm"


def notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The course notebooks, in order."""
    return sorted(Path(folder).glob("[0-9][0-9]-*.ipynb"))


def title(path: Path) -> str:
    """A notebook's title: its level-1 heading."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def _time_to_learn(path: Path) -> str:
    text = path.read_text()
    match = re.search(r"Time to learn[^0-9]*(\d+ minutes?)", text)
    return match.group(1) if match else ""


def _readme_intro() -> str:
    """The README's opening paragraphs (between the title and the first section)."""
    text = (REPO / "README.md").read_text()
    body = text.split("\n", 1)[1]
    return body.split("\n## ", 1)[0].strip()


# --------------------------------------------------------------------- site


def _index_markdown(paths: list[Path]) -> str:
    rows = "\n".join(f"| [{title(p)}](notebooks/{p.name}) | {_time_to_learn(p)} |" for p in paths)
    return f"""# {SITE_NAME}

{_readme_intro()}

## The notebooks

Read them in order: each one builds on the previous one.

| Notebook | Time to learn |
| --- | --- |
{rows}

## About this site

Every page is a notebook of the course with the outputs saved when it last ran against the local AWS
emulator: you see what each cell printed without running anything. To run the cells yourself, clone the
course and run `make lab` (it installs everything and opens JupyterLab). Each page's download button gives
you the notebook file.
"""


def _site_config(docs: Path, out: Path, paths: list[Path]) -> dict:
    return {
        "site_name": SITE_NAME,
        "docs_dir": str(docs),
        "site_dir": str(out),
        # notebooks/02-network.html rather than notebooks/02-network/: the pages
        # also work opened straight from disk (file://), without a web server.
        "use_directory_urls": False,
        "strict": True,
        "theme": {
            "name": "material",
            "font": False,  # no Google Fonts: the site must render offline
            "features": ["navigation.footer", "content.code.copy"],
        },
        "nav": [{"Home": "index.md"}] + [{title(p): f"notebooks/{p.name}"} for p in paths],
        "plugins": [
            "search",
            {"mkdocs-jupyter": {"execute": False, "include_source": True, "cache": False, "ignore_h1_titles": False}},
        ],
        "hooks": [str(HERE / "site_hooks.py")],
        "markdown_extensions": ["tables", "toc"],
    }


NEEDS_CDN = re.compile(r"```mermaid|\$\$|\\\(|\\\[")


def _check_offline_renderable(paths: list[Path]) -> None:
    """The site and slides load no MathJax or Mermaid (they would come from a CDN)."""
    for p in paths:
        for cell in json.loads(p.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and (match := NEEDS_CDN.search(source)):
                raise CourseError(
                    f"{p.name} has math or a Mermaid diagram ({match.group(0)!r}).",
                    "the offline site and slides load neither MathJax nor Mermaid, so it would show as raw text.",
                    f"draw it as a PNG with a script in diagrams/ (or write the formula as text) in {p.name}",
                )


def build_site(out: Path | None = None, source: Path = NOTEBOOKS) -> Path:
    """Render the notebooks of ``source`` (default: the course's) to a static HTML
    site in ``out``; return its index.html."""
    import yaml
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, ConfigurationError

    out = Path(out or workspace.path("site")).resolve()
    paths = notebooks(source)
    if not paths:
        raise CourseError(
            f"{source} holds no notebook named NN-title.ipynb.",
            "the site shows the course notebooks.",
            "run this from the course repository, or name the folder that holds them",
        )
    _check_offline_renderable(paths)
    _prepare_output(out, "site")
    with tempfile.TemporaryDirectory(prefix="course-site-") as tmp:
        docs = Path(tmp) / "docs"
        # The same layout as the repository, so that a relative link or image
        # in a notebook (../diagrams/x.png, 03-....ipynb) means the same here.
        (docs / "notebooks").mkdir(parents=True)
        for p in paths:
            shutil.copy2(p, docs / "notebooks" / p.name)
        shutil.copytree(DIAGRAMS, docs / "diagrams", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        (docs / "index.md").write_text(_index_markdown(paths))
        config_file = Path(tmp) / "mkdocs.yml"
        config_file.write_text(yaml.safe_dump(_site_config(docs, out, paths), sort_keys=False))
        with _mkdocs_warnings() as warnings:
            try:
                build(load_config(str(config_file)))
            except (Abort, ConfigurationError) as exc:
                raise CourseError(
                    "The course site did not build.",
                    "; ".join(warnings) or str(exc).strip() or type(exc).__name__,
                    "fix what is named above (a link between notebooks must name an existing "
                    "NN-title.ipynb), then run: python -m helpers site",
                ) from None
    (out / MARKER).write_text("site\n")  # MkDocs empties the folder as it starts
    return out / "index.html"


@contextlib.contextmanager
def _mkdocs_warnings():
    """Collect MkDocs' warnings (its command line prints them; its API only counts them)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logger = logging.getLogger("mkdocs")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


MARKER = ".course-build"


def _prepare_output(out: Path, kind: str) -> None:
    """Empty ``out`` for a fresh build, but never a folder that an earlier build of
    the same kind did not make (a typo must not delete someone's files)."""
    marker = out / MARKER
    if out.exists() and any(out.iterdir()) and not (marker.exists() and marker.read_text().strip() == kind):
        raise CourseError(
            f"{out} is not empty and holds no earlier {kind} build.",
            f"building the {kind} replaces its output folder, and this one holds other files.",
            f"name an empty or new folder, e.g.: python -m helpers {kind} /tmp/course-{kind}",
        )
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    marker.write_text(kind + "\n")


# ------------------------------------------------------------------- slides

HEADING = re.compile(r"^(#{1,3}) ")
LONG_CELL = 18  # lines of code and output that fill a slide


def _cell_lines(cell) -> int:
    lines = len(cell.source.splitlines())
    for output in cell.get("outputs", []):
        if "image/png" in output.get("data", {}):
            lines += 12
        text = output.get("text") or output.get("data", {}).get("text/plain", "")
        lines += len(text.splitlines())
    return lines


def add_slide_metadata(nb) -> None:
    """Cut a notebook into slides: ``#``/``##`` headings start a slide, ``###`` a
    sub-slide (below it), and a cell that would overflow a filled slide goes
    to a sub-slide of its own. Only ever applied to an in-memory copy: the
    committed notebooks keep clean metadata."""
    filled = 0
    for n, cell in enumerate(nb.cells):
        heading = HEADING.match(cell.source) if cell.cell_type == "markdown" else None
        size = _cell_lines(cell)
        if n == 0 or (heading and len(heading.group(1)) <= 2):
            kind, filled = "slide", size
        elif heading or (filled and filled + size > LONG_CELL):
            kind, filled = "subslide", size
        else:
            kind, filled = "-", filled + size
        cell.metadata["slideshow"] = {"slide_type": kind}


def reveal_js() -> Path:
    """reveal.js, fetched once from the npm registry into the workspace."""
    target = workspace.path("vendor", f"reveal.js-{REVEAL_VERSION}")
    if (target / "dist" / "reveal.js").exists():
        return target
    npm = shutil.which("npm")
    if not npm:
        raise CourseError(
            "npm is not installed: the slides need reveal.js, which comes from the npm registry.",
            "no Python package ships reveal.js; it is fetched once and kept in the workspace.",
            REVEAL_INSTALL + "; then run: python -m helpers slides",
        )
    with tempfile.TemporaryDirectory(prefix="course-reveal-") as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", f"reveal.js@{REVEAL_VERSION}", "--pack-destination", tmp, "--silent"],
                capture_output=True,
                text=True,
                timeout=600,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired as exc:
            proc = subprocess.CompletedProcess(exc.cmd, 1, "", f"npm pack did not finish in {exc.timeout:.0f} s")
        tarball = Path(tmp) / f"reveal.js-{REVEAL_VERSION}.tgz"
        if proc.returncode or not tarball.exists():
            raise CourseError(
                f"Could not fetch reveal.js {REVEAL_VERSION} from the npm registry.",
                "building slides the first time needs the npm registry (afterwards they build and run offline).",
                "connect to the internet once and run: python -m helpers slides",
                detail=(proc.stderr or proc.stdout).strip()[-2000:],
            )
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if digest != REVEAL_INTEGRITY:
            raise CourseError(
                f"reveal.js {REVEAL_VERSION} from the npm registry is not the expected file.",
                f"its sha512 is {digest}, the course expects {REVEAL_INTEGRITY}.",
                "check your npm registry setting (npm config get registry), then run again",
            )
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarball) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(unpacked, filter="data")
            else:  # Python < 3.11.4: check the member names ourselves
                for member in tar.getmembers():
                    if (
                        not member.name.startswith("package/")
                        or ".." in Path(member.name).parts
                        or not (member.isfile() or member.isdir())
                    ):
                        raise CourseError(
                            f"reveal.js's package holds an unexpected entry: {member.name}",
                            "the course extracts only plain files under package/.",
                            "report this; meanwhile build the slides with a newer Python",
                        )
                tar.extractall(unpacked)
        # Assemble beside the target, then rename: a build running at the same
        # time (the test suite starts one) never sees half a copy.
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".reveal-", dir=target.parent))
        for name in REVEAL_FILES:
            source = unpacked / "package" / name
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, staging / name)
            else:
                shutil.copy2(source, staging / name)
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not (target / "dist" / "reveal.js").exists():
                raise
    return target


def _slides_exporter():
    from nbconvert import SlidesExporter

    return SlidesExporter(
        extra_template_basedirs=[str(HERE / "templates")],
        template_name="course_slides",
        reveal_url_prefix="reveal.js",
        reveal_theme="white",
        reveal_number="c/t",
    )


def build_slides(out: Path | None = None, paths: list[Path] | None = None) -> Path:
    """Slides for each notebook (default: all) in ``out``; return its index.html."""
    import nbformat

    out = Path(out or workspace.path("slides")).resolve()
    paths = [Path(p) for p in (paths or notebooks())]
    for p in paths:
        if not p.is_file():
            raise CourseError(
                f"{p} is not a notebook of the course.",
                "slides are built from notebooks/.",
                "name notebooks as notebooks/NN-title.ipynb, or none to build them all",
            )
    _check_offline_renderable(paths)
    reveal = reveal_js()
    _prepare_output(out, "slides")
    shutil.copytree(reveal, out / "reveal.js")
    exporter = _slides_exporter()
    decks = []
    for p in paths:
        nb = nbformat.read(p, as_version=4)  # a copy in memory: the file is not touched
        add_slide_metadata(nb)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title(p)}})
        deck = out / f"{p.stem}.slides.html"
        deck.write_text(body)
        decks.append((deck.name, title(p)))
    links = "\n".join(f'  <li><a href="{name}">{_html_escape(text)}</a></li>' for name, text in decks)
    (out / "index.html").write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{SITE_NAME}: slides</title>
<style>body {{ font-family: sans-serif; max-width: 40em; margin: 2em auto; line-height: 1.6 }}</style>
</head><body>
<h1>{SITE_NAME}: slides</h1>
<p>One deck per notebook. Arrow keys move between slides (down for a slide's continuation),
<kbd>S</kbd> opens the speaker view, <kbd>F</kbd> goes full screen.</p>
<ol>
{links}
</ol>
</body></html>
""")
    return out / "index.html"


def _html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)
