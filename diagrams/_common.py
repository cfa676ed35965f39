"""What every course diagram shares: where it is written and how it looks.

Not a diagram itself (tests/test_diagrams.py skips files starting with "_").
"""

from pathlib import Path

from diagrams import Diagram

GRAPH = {"pad": "0.3", "fontsize": "20", "splines": "spline"}


def course_diagram(title: str, folder: Path, name: str) -> Diagram:
    """``with course_diagram(...):`` draws ``folder/name.png``, left to right, curved edges."""
    return Diagram(
        title, filename=str(Path(folder) / name), outformat="png", show=False, direction="LR", graph_attr=GRAPH
    )
