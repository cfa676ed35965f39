"""Workshop delivery: reveal.js slides from the notebooks, one deck per notebook.

    python -m helpers slides [OUT]    (make slides)  reveal.js slides, default <workspace>/slides

Built from the committed notebooks with their saved outputs by nbconvert's
reveal.js exporter; they work offline once built (templates/course_slides/).
The slides need reveal.js itself, which no Python package ships: the first
build fetches it once from the npm registry (``npm pack``, integrity
checked) into ``<workspace>/vendor/`` and copies it beside the slides.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .. import workspace
from ..errors import CourseError
from .site import HERE, SITE_NAME, check_offline_renderable, notebooks, prepare_output, title

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
    from nbconvert import SlidesExporter  # heavy: only for this command

    return SlidesExporter(
        extra_template_basedirs=[str(HERE / "templates")],
        template_name="course_slides",
        reveal_url_prefix="reveal.js",
        reveal_theme="white",
        reveal_number="c/t",
    )


def build_slides(out: Path | None = None, paths: list[Path] | None = None) -> Path:
    """Slides for each notebook (default: all) in ``out``; return its index.html."""
    import nbformat  # heavy: only for this command

    out = Path(out or workspace.path("slides")).resolve()
    paths = [Path(p) for p in (paths or notebooks())]
    for p in paths:
        if not p.is_file():
            raise CourseError(
                f"{p} is not a notebook of the course.",
                "slides are built from notebooks/.",
                "name notebooks as notebooks/NN-title.ipynb, or none to build them all",
            )
    check_offline_renderable(paths)
    reveal = reveal_js()
    prepare_output(out, "slides")
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
    return html.escape(text, quote=True)
