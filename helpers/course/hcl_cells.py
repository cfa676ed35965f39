"""The ``%%hcl course/...`` cells of the course notebooks: the stack's source of truth.

Tests rebuild terraform/ from these cells, and ``course.catch_up`` applies them.
"""

from __future__ import annotations

import json
import re

from .. import workspace

HCL_CELL = re.compile(r"^%%hcl\s+(course/\S+(?:\s+--add)?)\s*\n", re.S)


def hcl_cells(names: list[str] | None = None):
    """(notebook file, target line, body) of every ``%%hcl course/...`` cell, in course order.

    The notebooks are the source of truth for the course stack: tests rebuild
    terraform/ from these cells, and ``course.catch_up`` applies them.
    ``names`` limits the search to those notebooks (e.g. ["02-network"]).
    """
    for path in workspace.course_notebooks():
        if names is not None and path.stem not in names:
            continue
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            match = HCL_CELL.match(source) if cell["cell_type"] == "code" else None
            if match:
                yield path.name, match.group(1), source[match.end() :]
