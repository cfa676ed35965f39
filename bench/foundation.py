"""Benchmark of the foundation: emulator cold start, offline init, doctor.

    make bench        (or: .venv/bin/python bench/foundation.py)

Budgets (issue "Foundation"): emulator cold start <= 2 s, offline
`terraform init` <= 3 s, `python -m helpers doctor` <= 5 s. Each figure is
the median of several runs in a throw-away workspace; nothing here touches
the learner's workspace. Prints a table and writes bench/foundation.json.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from helpers import terraform

HERE = Path(__file__).resolve().parent
RUNS = 5
STACK = terraform.HEADER_HCL


def timed(func) -> float:
    """Seconds one call takes (its live progress, on stderr, is not shown)."""
    with contextlib.redirect_stderr(io.StringIO()):
        began = time.perf_counter()
        func()
        return time.perf_counter() - began


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="course-bench-"))
    os.environ["COURSE_WORKSPACE"] = str(root / "ws")
    os.environ.pop("COURSE_TARGET", None)
    from helpers import emulator
    from helpers.terraform import Terraform

    results = {}

    starts = []
    for _ in range(RUNS):
        starts.append(timed(emulator.start))
        emulator.stop()
    results["emulator cold start"] = (starts, 2.0)

    first_init = timed(lambda: (terraform.stack_dir("bench-0").joinpath("main.tf").write_text(STACK),
                                Terraform("bench-0").init()))
    inits = []
    for i in range(1, RUNS + 1):
        stack = f"bench-{i}"
        terraform.stack_dir(stack).joinpath("main.tf").write_text(STACK)
        inits.append(timed(lambda stack=stack: Terraform(stack).init()))
    results["offline terraform init"] = (inits, 3.0)
    results["  first init (unpacks the provider)"] = ([first_init], None)

    doctors = []
    for _ in range(3):
        doctors.append(timed(lambda: subprocess.run([sys.executable, "-m", "helpers", "doctor"],
                                                    capture_output=True, check=True)))
    emulator.stop()
    results["python -m helpers doctor"] = (doctors, 5.0)

    print(f"Foundation benchmark · {platform.platform()} · {os.cpu_count()} cores · Python {platform.python_version()}")
    print(f"{'measure':<38} {'median':>8} {'min':>8} {'max':>8} {'budget':>8}  verdict")
    report = {}
    for name, (samples, budget) in results.items():
        median = statistics.median(samples)
        verdict = "" if budget is None else ("ok" if median <= budget else "OVER BUDGET")
        budget_text = "" if budget is None else f"{budget:.1f} s"
        print(f"{name:<38} {median:7.2f}s {min(samples):7.2f}s {max(samples):7.2f}s {budget_text:>8}  {verdict}")
        report[name.strip()] = {"median_s": round(median, 3), "samples_s": [round(s, 3) for s in samples],
                                "budget_s": budget}
    (HERE / "foundation.json").write_text(json.dumps(
        {"machine": platform.platform(), "cores": os.cpu_count(), "results": report}, indent=2) + "\n")
    return 0 if all(b is None or statistics.median(s) <= b for s, b in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
