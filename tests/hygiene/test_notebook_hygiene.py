"""Every notebook: one anatomy, executed outputs, clean metadata, nothing machine-specific.

nbval proves the saved outputs are what the code produces; this proves the
rest of what a learner sees (see ../shared/style/ANCHORS.md for the anatomy).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
NAME = re.compile(r"^\d\d-[a-z0-9]+(-[a-z0-9]+)*\.ipynb$")
SECTIONS = (
    "## Overview",
    "## Prerequisites",
    "Time to learn",
    "## Setup",
    "## Troubleshooting",
    "## Summary",
    "### What's next?",
    "## Resources and references",
)
ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/(root|home|work|tmp|Users|private|var/folders)/")


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS][:1] == ["00-setup.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_anatomy(path):
    assert NAME.match(path.name), f"{path.name}: name notebooks NN-kebab-title.ipynb"
    nb = json.loads(path.read_text())
    markdown = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    first = markdown[0].splitlines()
    assert nb["cells"][0]["cell_type"] == "markdown" and first[0].startswith("# ") and "---" in first
    assert sum(line.startswith("# ") for text in markdown for line in text.splitlines()) == 1, (
        "the title is the only level-1 heading"
    )
    text = "\n".join(markdown)
    positions = [text.find(section) for section in SECTIONS]
    assert -1 not in positions, f"missing: {[s for s, p in zip(SECTIONS, positions, strict=False) if p < 0]}"
    assert positions == sorted(positions), "sections must come in the anatomy's order"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_saved_outputs_are_executed_and_clean(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        assert cell["execution_count"] is not None, f"unexecuted cell: {''.join(cell['source'])[:60]}"
        assert "execution" not in cell["metadata"], "timing metadata: run `make notebooks`"
        assert not any(o["output_type"] == "error" for o in cell["outputs"]), "a saved output is an error"
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}
    raw = path.read_text()
    assert not ABSOLUTE_PATH.search(raw), f"absolute machine path in {path.name}: {ABSOLUTE_PATH.search(raw)[0]}"


EMULATOR_ONLY = "# emulator only: "
# Calls that only make sense against the local emulator: a cell made of them is marked.
EMULATOR_CALLS = ("emulator.start()", "course.target_settings()")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_emulator_only_cells_start_with_the_marker(path):
    """As handson-ml3 marks its extra code, every cell that serves the emulator alone says so on line 1."""
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code":
            continue
        if any(call in source for call in EMULATOR_CALLS) and "is_emulator()" not in source:
            assert source.startswith(EMULATOR_ONLY), f"{path.name}: mark this cell '{EMULATOR_ONLY}<why>':\n{source}"
        if source.startswith(EMULATOR_ONLY):
            assert len(source.splitlines()[0]) > len(EMULATOR_ONLY) + 10, "the marker says why"


LINE_LIMIT = 100  # characters: helpers/exercises/generator.py's LINE_LIMIT, the same for the exercises it writes


@pytest.mark.parametrize(
    "path", NOTEBOOKS + sorted((REPO / "notebooks" / "exercises").glob("*.ipynb")), ids=lambda p: p.name
)
def test_code_lines_fit_a_laptops_jupyterlab(path):
    """A code line fits JupyterLab on a laptop with the file browser open (about 100 characters, issue 27 item 20):
    longer lines wrap or scroll sideways, and a learner misses their end. %%hcl cells are terraform/'s source, so
    this holds for terraform/*.tf too (tests/course/test_course.py keeps them equal)."""
    from helpers.exercises.generator import LINE_LIMIT as GENERATED

    assert GENERATED == LINE_LIMIT
    nb = json.loads(path.read_text())
    long = [
        f"{len(line)}: {line.strip()[:60]}…"
        for cell in nb["cells"]
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if len(line) > LINE_LIMIT
    ]
    assert long == [], f"{path.name}: {len(long)} code lines over {LINE_LIMIT} characters: {long}"
