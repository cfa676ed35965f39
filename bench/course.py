"""Benchmark of the course against the Terraform it teaches.

    make bench        (or: .venv/bin/python bench/course.py)

In one run, each on a fresh emulator in a throw-away workspace:

(a) raw: plain ``terraform init``, ``apply`` and ``destroy`` of a copy of
    terraform/ (the floor: the AWS provider's fixed waits are most of it;
    init is counted because the course pays its own init too);
(b) the course: notebooks 00-10 executed in order, as a learner would run
    them, each timed (kernel start included);
(c) re-running each applied notebook 01-09 (done between 09 and 10).

Budgets (issue "The course"): course cold <= 1.3 x raw init+apply+destroy;
re-running an applied notebook <= 5 s median. Prints a table and writes
bench/course.json.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def fresh_workspace(root: Path, name: str):
    from helpers import emulator

    emulator.stop()
    os.environ["COURSE_WORKSPACE"] = str(root / name)
    emulator.start(quiet=True)


def raw(root: Path) -> dict:
    from helpers import standalone

    fresh_workspace(root, "raw")
    folder = standalone.prepare(root / "raw-terraform")
    times = {}
    for step, args in (("init", ("init", "-input=false")),
                       ("apply", ("apply", "-auto-approve", "-input=false")),
                       ("destroy", ("destroy", "-auto-approve", "-input=false"))):
        began = time.perf_counter()
        result = standalone.terraform(folder, *args)
        times[step] = time.perf_counter() - began
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
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


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="course-bench-"))
    os.environ.pop("COURSE_TARGET", None)
    from helpers import emulator

    try:
        floor = raw(root)
        cold, rerun = course(root)
    finally:
        emulator.stop()
    raw_total = sum(floor.values())
    course_total = sum(cold.values())
    ratio = course_total / raw_total
    rerun_median = statistics.median(rerun.values())

    print(f"Course benchmark · {platform.platform()} · {os.cpu_count()} cores · Python {platform.python_version()}")
    print(f"{'notebook':<34} {'cold':>8} {'re-run':>8}")
    for name, seconds in cold.items():
        again = f"{rerun[name]:7.1f}s" if name in rerun else ""
        print(f"{name:<34} {seconds:7.1f}s {again:>8}")
    print(f"{'course, notebooks 00-10':<34} {course_total:7.1f}s")
    print(f"{'raw terraform/ init+apply+destroy':<34} {raw_total:7.1f}s   "
          f"(init {floor['init']:.1f}s, apply {floor['apply']:.1f}s, destroy {floor['destroy']:.1f}s)")
    verdict_ratio = "ok" if ratio <= 1.3 else "OVER BUDGET"
    verdict_rerun = "ok" if rerun_median <= 5 else "OVER BUDGET"
    print(f"course / raw: {ratio:.2f} (budget 1.30) {verdict_ratio}")
    print(f"re-run of an applied notebook, median: {rerun_median:.1f}s (budget 5 s) {verdict_rerun}")
    (HERE / "course.json").write_text(json.dumps({
        "machine": platform.platform(), "cores": os.cpu_count(),
        "raw_s": {k: round(v, 2) for k, v in floor.items()},
        "course_cold_s": {k: round(v, 2) for k, v in cold.items()},
        "course_rerun_s": {k: round(v, 2) for k, v in rerun.items()},
        "course_total_s": round(course_total, 2), "ratio": round(ratio, 3), "rerun_median_s": round(rerun_median, 2),
    }, indent=2) + "\n")
    return 0 if ratio <= 1.3 and rerun_median <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
