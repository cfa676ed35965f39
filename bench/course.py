"""(a-d) The course against the Terraform it teaches.

    .venv/bin/python bench/run.py --only course     (part of: make bench)

In one run, each on a fresh emulator in a throw-away workspace:

(a) raw: plain ``terraform init``, ``apply`` and ``destroy`` of a copy of
    terraform/ (the floor: the AWS provider's fixed waits are most of it;
    init is counted because the course pays its own init too);
(b) the course: notebooks 00-10 executed in order, as a learner would run
    them, (c) each timed (kernel start included);
(d) re-running each applied notebook 01-09 (done between 09 and 10).

Budgets (issue "The course on the traffic lab"): course cold <= 1.3 x raw init+apply+destroy
+ 60 s for the health checks' own waits (the lab's real ones: unhealthy, the 504's 10 s, healthy);
re-running an applied notebook <= 5 s median.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.common import REPO, Measure, Part, median, rounded

COLD_RATIO = 1.3
HEALTH_CHECK_WAITS_S = 60.0
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def fresh_workspace(root: Path, name: str):
    from helpers.runtime import emulator

    emulator.stop()
    os.environ["COURSE_WORKSPACE"] = str(root / name)
    emulator.start(quiet=True)


def raw(root: Path, name: str = "raw", *extra: str) -> dict:
    """Seconds of plain init, apply and destroy of terraform/ (``extra``: more apply/destroy options).

    Runs on an emulator of its own, stopped at the end (a later part's emulator then gets the usual port).
    """
    from helpers.runtime import emulator
    from helpers.tf import standalone

    fresh_workspace(root, name)
    try:
        folder = standalone.prepare(root / f"{name}-terraform")
        return terraform_steps(folder, name, "init", "apply", "destroy", extra=extra)
    finally:
        emulator.stop()


STEPS = {
    "init": ("init", "-input=false"),
    "apply": ("apply", "-auto-approve", "-input=false"),
    "destroy": ("destroy", "-auto-approve", "-input=false"),
}


def terraform_steps(folder: Path, name: str, *steps: str, extra: tuple[str, ...] = ()) -> dict:
    """Seconds of each Terraform step (``STEPS``) in ``folder``, in order; a failure raises with its output.

    ``extra``: more options for apply and destroy. Shared by (a) and the lab part (terraform/ applied).
    """
    from helpers.tf import standalone

    times = {}
    for step in steps:
        args = STEPS[step] + (extra if step != "init" else ())
        began = time.perf_counter()
        result = standalone.terraform(folder, *args)
        times[step] = time.perf_counter() - began
        if result.returncode != 0:
            raise RuntimeError(f"{name} terraform {step} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return times


def execute(path: Path) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    began = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - began


def course(root: Path) -> tuple[dict, dict]:
    fresh_workspace(root, "course")
    cold, rerun = {}, {}
    for path in NOTEBOOKS:
        if path.name.startswith("10-"):
            for again in NOTEBOOKS[1:10]:
                rerun[again.stem] = execute(again)
        cold[path.stem] = execute(path)
    return cold, rerun


def run(root: Path) -> Part:
    from helpers.runtime import emulator

    try:
        floor = raw(root)
        cold, rerun = course(root)
    finally:
        emulator.stop()
    raw_total, course_total = sum(floor.values()), sum(cold.values())
    measures = [
        Measure(
            "(a) raw terraform/: init + apply + destroy",
            raw_total,
            text=f"init {floor['init']:.1f} s, apply {floor['apply']:.1f} s, destroy {floor['destroy']:.1f} s",
        ),
        Measure(
            "(b) course cold, notebooks 00-10",
            course_total,
            budget=round(COLD_RATIO * raw_total + HEALTH_CHECK_WAITS_S, 1),
            text=f"budget {COLD_RATIO} x raw + {HEALTH_CHECK_WAITS_S:.0f} s of health-check waits",
        ),
        Measure("    course / raw", course_total / raw_total, unit="x"),
    ]
    for name, seconds in cold.items():
        again = f"re-run {rerun[name]:.1f} s" if name in rerun else ""
        measures.append(Measure(f"(c) {name}", seconds, text=again))
    measures.append(Measure("(d) re-run of an applied notebook, median", median(rerun.values()), budget=5.0))
    return Part(measures, {"raw_s": rounded(floor), "course_cold_s": rounded(cold), "course_rerun_s": rounded(rerun)})
