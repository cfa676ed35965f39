"""Maintainers: re-execute the notebooks so their saved outputs are fresh.

    python -m helpers notebooks            (or: make notebooks)

Runs every notebook in order, in the test workspace (``.course-test``) on a
freshly started emulator, exactly as ``make test`` will, then saves each one
without volatile metadata (execution timestamps, kernel version details).
nbval then compares against these outputs.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .. import workspace
from ..lab.control import commands as control
from ..runtime import emulator, lab_machine


def clean(nb) -> None:
    """Remove what changes on every run and means nothing to a learner."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                output.get("metadata", {}).pop("transient", None)
    nb.metadata.pop("widgets", None)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def refresh(paths: list[Path] | None = None) -> None:
    import nbformat  # heavy: only for this command
    from nbclient import NotebookClient  # heavy: this command only

    os.environ["COURSE_WORKSPACE"] = str(workspace.REPO / ".course-test")
    os.environ.pop("COURSE_TARGET", None)
    if lab_machine.supervised():  # a lab left by an interrupted run follows no emulator of this run
        control.down()
    emulator.stop()
    shutil.rmtree(workspace.path("stacks"), ignore_errors=True)
    emulator.start()
    try:
        for path in paths or workspace.course_notebooks():
            print(f"executing {path.relative_to(workspace.REPO)} ...", flush=True)
            nb = nbformat.read(path, as_version=4)
            NotebookClient(
                nb,
                timeout=1800,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
                record_timing=False,
            ).execute()
            clean(nb)
            nbformat.write(nb, path)
    finally:
        emulator.stop()


if __name__ == "__main__":
    refresh([Path(p).resolve() for p in sys.argv[1:]] or None)
