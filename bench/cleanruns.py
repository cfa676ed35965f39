"""Three clean-clone runs of `make test` in a row (issue 23, "Performance"): each with its time and its failures.

    .venv/bin/python bench/run.py --only clean-runs     (or: make bench BENCH_ARGS="--only clean-runs")

Opt-in (about three times `make test`, installs included: not part of a plain `make bench`). Each run clones the
repository's committed HEAD into a folder of its own (uncommitted changes are not in it: the part says so) and
runs `make test` there as a newcomer would, its installs included (the machine's pip cache is used, as CI's would
be). pytest writes a junit report (``PYTEST_ARGS=--junitxml=...``), from which each run's failed tests are named.
The runs follow one another, never overlap. The part is recorded into bench/latest.json (bench/run.py merges it
beside the recorded parts) and printed: one row per run, then the number of failures over the three, whose
budget is 0.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench import maketest
from bench.common import Measure, Part
from bench.cpu import floor_text

RUNS = 3


def run(root: Path) -> Part:
    runs = []
    for number in range(1, RUNS + 1):
        folder = root / f"run-{number}"
        cloned = maketest.clone(folder / "clone")
        runs.append({**cloned, **maketest.make_test(folder / "clone", folder / "junit.xml")})
    measures = []
    for number, found in enumerate(runs, start=1):
        failed = found["failed"]
        note = f"clone of {found['commit']}: " + ("; ".join(failed) if failed else "no failure")
        note += "; " + floor_text(found["cpu_s"], os.cpu_count() or 1)
        if found["exit_code"] is None:
            note += f" (stopped after {maketest.MAKE_TEST_TIMEOUT_S:.0f} s)"
        if found["uncommitted_changes"]:
            note += " (uncommitted changes not included)"
        name = f"clean clone {number}/{RUNS}: make test, installs included"
        measures.append(Measure(name, found["seconds"], budget=maketest.BUDGET_S, text=note))
    failures = sum(len(found["failed"]) or bool(found["exit_code"] != 0) for found in runs)
    measures.append(Measure(f"failures over {RUNS} clean-clone runs of make test", failures, unit="count", budget=0))
    return Part(measures, {"runs": runs})
