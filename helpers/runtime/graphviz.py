"""Graphviz for the `diagrams` package: is ``dot`` there, and does it draw icons?"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import CourseError

INSTALL_LINES = (
    "install Graphviz, then re-run:\n"
    "    Debian/Ubuntu:  sudo apt-get install graphviz\n"
    "    macOS:          brew install graphviz\n"
    "    conda:          conda install -c conda-forge graphviz\n"
    "  (the PyPI package 'graphviz-pure' is not a substitute: it draws no icons)"
)


def require_dot() -> str:
    """Path of Graphviz's ``dot``, or a CourseError with the install lines."""
    dot = shutil.which("dot")
    if dot is None:
        raise CourseError(
            "Graphviz's 'dot' program was not found.",
            "The diagrams package lays out and draws every architecture diagram with Graphviz's dot.",
            INSTALL_LINES,
        )
    return dot


def dot_version() -> str:
    dot = require_dot()
    proc = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=20)
    return (proc.stderr or proc.stdout).strip()


def icon_renders() -> str:
    """Draw one AWS node with `diagrams` and prove its icon is in the picture.

    Returns the icon's file name. Raises CourseError if dot leaves it out
    (a Graphviz build without image support, or a stand-in such as graphviz-pure).
    """
    require_dot()
    from diagrams.aws.network import ELB  # diagrams and Graphviz: only when a picture is drawn

    from diagrams import Diagram  # diagrams: only when a picture is drawn

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "icon_check"
        with Diagram("icon check", filename=str(base), outformat=["svg", "png"], show=False):
            node = ELB("alb")
        icon = Path(node._load_icon()).name
        svg = base.with_suffix(".svg").read_text(errors="replace")
        png = base.with_suffix(".png")
        if f"{icon}" not in svg or "<image" not in svg or not png.exists() or png.stat().st_size < 1000:
            raise CourseError(
                "Graphviz runs but draws diagrams without their icons.",
                "This dot cannot embed images (a minimal build, or a stand-in like graphviz-pure).",
                INSTALL_LINES,
            )
    return icon
