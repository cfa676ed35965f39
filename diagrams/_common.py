"""What every course diagram shares: where it is written and how it looks.

Not a diagram itself (tests/delivery/test_diagrams.py skips files starting with "_").
"""

from pathlib import Path

from diagrams import Diagram
from helpers.verify.diagram_style import BAD, BOX, GRAPH, MUTED, OK  # noqa: F401 (the course's look, one place)


def course_diagram(title: str, folder: Path, name: str) -> Diagram:
    """``with course_diagram(...):`` draws ``folder/name.png``, left to right, curved edges."""
    return Diagram(
        title, filename=str(Path(folder) / name), outformat="png", show=False, direction="LR", graph_attr=GRAPH
    )
