"""Workshop delivery: the course as a static web site (the slides: slides.py).

    python -m helpers site [OUT]      (make site)    HTML site, default <workspace>/site

Built from the committed notebooks with their saved outputs: no notebook is
executed, no emulator is needed. A standard MkDocs build (Material theme,
notebooks rendered by mkdocs-jupyter) that works offline once built: nothing is
loaded from a CDN (see site_hooks.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import tempfile
from pathlib import Path

from .. import workspace
from ..errors import CourseError

REPO = workspace.REPO
DIAGRAMS = REPO / "diagrams"
HERE = Path(__file__).resolve().parent
SITE_NAME = "ECS behind an ALB, with Terraform"


def notebooks(folder: Path = workspace.NOTEBOOK_DIR) -> list[Path]:
    """The course notebooks, in order."""
    return workspace.course_notebooks(folder)


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


def check_offline_renderable(paths: list[Path]) -> None:
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


def build_site(out: Path | None = None, source: Path = workspace.NOTEBOOK_DIR) -> Path:
    """Render the notebooks of ``source`` (default: the course's) to a static HTML
    site in ``out``; return its index.html."""
    import yaml  # only for this command
    from mkdocs.commands.build import build  # heavy: this command only
    from mkdocs.config import load_config  # heavy: this command only
    from mkdocs.exceptions import Abort, ConfigurationError  # heavy: only for this command

    out = Path(out or workspace.path("site")).resolve()
    paths = notebooks(source)
    if not paths:
        raise CourseError(
            f"{source} holds no notebook named NN-title.ipynb.",
            "the site shows the course notebooks.",
            "run this from the course repository, or name the folder that holds them",
        )
    check_offline_renderable(paths)
    prepare_output(out, "site")
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


def prepare_output(out: Path, kind: str) -> None:
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
