"""Where the traffic lab cannot run, a notebook cell that uses it runs but its output is not compared; every other
cell's is (tests/plugin/session.py, ``_lab_cells_unchecked_without_the_lab``). Where the lab runs, all are.

Real pytest sessions with the project's plugin and nbval, on a small notebook: one cell that uses ``lab.`` and two
that do not, committed outputs that differ from what two of them print. "No lab here" is made as on a machine
without nftables: ``nft`` is not on the PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers.runtime import lab_machine
from tests.support import background

pytestmark = pytest.mark.jupyter  # make check leaves it out: it starts Jupyter

LAB_CELL = 'lab = type("Lab", (), {"answer": 200})\nprint(lab.answer)'


def _notebook(folder: Path) -> Path:
    """Cell 0 uses the lab and prints 200 (committed: 504); cell 1 prints 2 (committed: 3); cell 2 prints 4."""
    notebook = nbformat.v4.new_notebook()
    cells = ((LAB_CELL, "504\n"), ("print(1 + 1)", "3\n"), ("print(2 + 2)", "4\n"))
    for number, (source, committed) in enumerate(cells, 1):
        cell = nbformat.v4.new_code_cell(source, execution_count=number)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=committed)]
        notebook.cells.append(cell)
    folder.mkdir()  # not a folder named notebooks/: the plugin would take it for the course
    path = folder / "cells.ipynb"
    nbformat.write(notebook, path)
    return path


def _session(notebook: Path, workspace: Path, path: str) -> tuple[set[int], str]:
    """Run nbval on ``notebook`` as make test does; the numbers of the cells that failed, and the output."""
    env = dict(os.environ, COURSE_TEST_WORKSPACE=str(workspace), COURSE_WORKSPACE=str(workspace), PATH=path)
    env.pop("PYTEST_XDIST_WORKER", None)  # a session of its own: its own workspace and emulator, not this worker's
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-c",
                "pyproject.toml",
                "-p",
                "no:cacheprovider",
                "-q",
                "-rf",
                str(notebook),
            ],
            cwd=background.REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:  # killed before its session finished: its emulator would outlive it
        subprocess.run([sys.executable, "-m", "helpers", "emulator", "stop"], cwd=background.REPO, env=env, timeout=30)
        raise
    failed = {int(n) for n in re.findall(r"^FAILED .*::Cell (\d+)", done.stdout, re.M)}
    return failed, done.stdout + done.stderr


def _without_nft() -> str:
    """The PATH without the folders that hold ``nft``, as on a machine without nftables (Debian: /usr/sbin; the
    sessions need no program from there: pytest, the kernel and the emulator run as ``sys.executable``)."""
    folders = [f for f in os.environ.get("PATH", "").split(os.pathsep) if f and not (Path(f) / "nft").exists()]
    return os.pathsep.join(folders)


def test_without_the_lab_only_the_lab_cells_go_uncompared(tmp_path):
    notebook = _notebook(tmp_path / "nb")
    failed, output = _session(notebook, tmp_path / "ws", _without_nft())
    assert "1 failed, 2 passed" in output, output
    assert failed == {1}, "the lab's cell runs unchecked; the others are still compared strictly"


@pytest.mark.skipif(not lab_machine.check().ok, reason=f"the lab cannot run here: {lab_machine.check().detail}")
def test_where_the_lab_runs_every_cell_is_compared(tmp_path):
    notebook = _notebook(tmp_path / "nb")
    failed, output = _session(notebook, tmp_path / "ws", os.environ["PATH"])
    assert failed == {0, 1}, output
