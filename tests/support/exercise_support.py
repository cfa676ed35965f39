"""The exercise notebooks, executed, for tests/exercises/test_exercises.py.

``ExerciseRun.start()`` runs two jobs in the background, beside the notebook chain, at once, each
``python -m tests.support.exercise_support OUT PART`` with its own workspace and emulator (the unit
tests stop and reset the session's emulator meanwhile):

1. ``blank``: every exercise notebook as committed, blanks and all, in course order
   (execute-only: nothing is compared; a cell that raises is a failure), and
2. ``filled``: exercises 02 to 07 with every blank filled in with the solution's answer,
   as a learner who got them right would, with the traffic lab up on the job's
   emulator (as notebook 00 starts it) where it can run: exercise 07 sends the
   real requests (504, 503, 200).

Neither needs the other: the second waits mostly (the provider's ALB wait, the lab's real health checks
and timeouts) while the first runs kernels, so together they end about when the second alone does (one
after the other they took 6.5 min in make test). Each writes each code cell's source and text output
to its ``OUT/result.json``; ``ExerciseRun.wait()`` joins the two.
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


class BlankExercises(Job):
    module, folder, what = "tests.support.exercise_support", "exercises-blank", "executing the exercise notebooks"
    timeout = 900  # seven notebooks, nothing applied


class FilledExercises(Job):
    module, folder, what = "tests.support.exercise_support", "exercises-filled", "the exercises filled in"
    timeout = 1500  # 02-07 filled in, applied, the lab's real waits included


class ExerciseRun:
    """The two jobs, started at once; ``wait()`` gives one result: blank, filled, seconds, lab."""

    def __init__(self, blank: Job, filled: Job):
        self.blank, self.filled = blank, filled

    @classmethod
    def start(cls) -> ExerciseRun:
        return cls(BlankExercises.start("blank"), FilledExercises.start("filled"))

    def wait(self) -> dict:
        blank, filled = self.blank.wait(), self.filled.wait()
        return {
            "blank": blank["blank"],
            "filled": filled["filled"],
            "seconds": {**blank["seconds"], **filled["seconds"]},
            "lab": filled["lab"],
            "waited_s": max(blank["waited_s"], filled["waited_s"]),
        }

    def stop(self) -> None:
        self.blank.stop()
        self.filled.stop()


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


def main(out: Path, *parts: str) -> int:
    """``parts``: ``blank``, ``filled`` or both (none given: both, one after the other)."""
    import shutil

    import nbformat

    from helpers.exercises import generator
    from helpers.lab.control import commands as control
    from helpers.runtime import emulator, lab_machine

    parts = parts or ("blank", "filled")
    shutil.rmtree(out / "stacks", ignore_errors=True)
    emulator.start(quiet=True)
    lab = "filled" in parts and lab_machine.check().ok
    result = {"blank": {}, "filled": {}, "seconds": {}, "lab": lab}
    try:
        for exercise in generator.SPEC if "blank" in parts else ():
            began = time.monotonic()
            nb = nbformat.read(generator.path(exercise), as_version=4)
            result["blank"][exercise.notebook] = execute(nb, exercise.notebook)
            result["seconds"][exercise.notebook] = round(time.monotonic() - began, 1)
            print(f"{exercise.notebook} (blanks): {result['seconds'][exercise.notebook]} s", flush=True)
        if lab:
            control.up(quiet=True)  # what notebook 00 does for a learner
        for exercise in generator.SPEC if "filled" in parts else ():
            if exercise.notebook not in FILLED:
                continue
            began = time.monotonic()
            result["filled"][exercise.notebook] = execute(generator.build(exercise, filled=True), exercise.notebook)
            result["seconds"][exercise.notebook + " filled"] = round(time.monotonic() - began, 1)
            print(f"{exercise.notebook} (filled): {result['seconds'][exercise.notebook + ' filled']} s", flush=True)
        (out / "result.json").write_text(json.dumps(result, indent=1))
        return 0
    finally:
        if lab:
            control.down()
        emulator.stop()


if __name__ == "__main__":
    background.main(main)
