"""The exercise notebooks, executed, for tests/exercises/test_exercises.py.

``ExerciseRun.start()`` runs ``python -m tests.support.exercise_support OUT`` in the
background, beside the notebook chain: its own workspace and emulator (the
unit tests stop and reset the session's emulator meanwhile). It executes

1. every exercise notebook as committed, blanks and all, in course order
   (execute-only: nothing is compared; a cell that raises is a failure), and
2. exercises 02 to 07 with every blank filled in with the solution's answer,
   as a learner who got them right would, with the traffic lab up on the job's
   emulator (as notebook 00 starts it) where it can run: exercise 07 sends the
   real requests (504, 503, 200),

and writes each code cell's source and text output to ``OUT/result.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.support import background
from tests.support.background import REPO, Job

FILLED = (
    "02-network",
    "03-alb-security-group",
    "04-alb-and-listeners",
    "05-target-group",
    "06-ecs-on-ec2",
    "07-lock-down-the-instances",
)


class ExerciseRun(Job):
    module, folder, what = "tests.support.exercise_support", "exercises-run", "executing the exercise notebooks"
    timeout = 1500  # the blank run, then 02-07 filled in, the lab's real waits included


def _text(cell) -> str:
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))


def execute(nb, name: str) -> list[dict]:
    """Run ``nb`` like a learner pressing Run All; return every code cell's source and text output."""
    from nbclient import NotebookClient

    NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(REPO / "notebooks" / "exercises")}},
    ).execute()
    cells = [
        {"source": c.source, "output": _text(c), "errors": [o for o in c.outputs if o.output_type == "error"]}
        for c in nb.cells
        if c.cell_type == "code"
    ]
    bad = [c for c in cells if c["errors"]]
    if bad:
        raise SystemExit(f"{name}: a cell raised: {bad[0]['source'][:200]}\n{bad[0]['errors']}")
    return cells


def main(out: Path) -> int:
    import shutil

    import nbformat

    from helpers.exercises import generator
    from helpers.lab.control import commands as control
    from helpers.runtime import emulator, lab_machine

    shutil.rmtree(out / "stacks", ignore_errors=True)
    emulator.start(quiet=True)
    result = {"blank": {}, "filled": {}, "seconds": {}, "lab": lab_machine.check().ok}
    try:
        for exercise in generator.SPEC:
            began = time.monotonic()
            nb = nbformat.read(generator.path(exercise), as_version=4)
            result["blank"][exercise.notebook] = execute(nb, exercise.notebook)
            result["seconds"][exercise.notebook] = round(time.monotonic() - began, 1)
            print(f"{exercise.notebook} (blanks): {result['seconds'][exercise.notebook]} s", flush=True)
        if result["lab"]:
            control.up(quiet=True)  # what notebook 00 does for a learner
        for exercise in generator.SPEC:
            if exercise.notebook not in FILLED:
                continue
            began = time.monotonic()
            result["filled"][exercise.notebook] = execute(generator.build(exercise, filled=True), exercise.notebook)
            result["seconds"][exercise.notebook + " filled"] = round(time.monotonic() - began, 1)
            print(f"{exercise.notebook} (filled): {result['seconds'][exercise.notebook + ' filled']} s", flush=True)
        (out / "result.json").write_text(json.dumps(result, indent=1))
        return 0
    finally:
        if result["lab"]:
            control.down()
        emulator.stop()


if __name__ == "__main__":
    background.main(main)
