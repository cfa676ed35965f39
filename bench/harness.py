"""Is `make test`'s harness still worth its code? The suite with and without the CPU favouring and the course-first
scheduling (issue 23, item 6).

    .venv/bin/python bench/run.py --only harness     (or: make bench BENCH_ARGS="--only harness")

Opt-in (two runs of `make test`: not part of a plain `make bench`). tests/plugin/session.py hands the course (the
notebooks and the tests that read its state) out first, to a worker it then runs alone, and (as root, with
autogroups) favours the course's processes with a higher CPU weight (tests/support/priority.py). With
``COURSE_TEST_HARNESS=plain`` it does neither: the course still goes to one worker, in order (its notebooks build
one stack), handed out as xdist's LoadScope would, and every process keeps the default weight.

One clone of the committed HEAD, its installs done once (not timed), then `make test` as is and `make test` plain,
one after the other: their wall times, the difference, and each run's failed tests. Two runs on a shared machine
are one sample each: the part says so, and the row of the difference is the number to judge the harness by (keep
it when "as is" is clearly faster and fails no more than "plain").
"""

from __future__ import annotations

from pathlib import Path

from bench import maketest
from bench.common import Measure, Part, run_timed

VARIANTS = {"as is": {}, "plain": {"COURSE_TEST_HARNESS": "plain"}}


def run(root: Path) -> Part:
    folder = root / "clone"
    cloned = maketest.clone(folder)
    env = maketest.clean_environment()
    run_timed(["make", "-C", str(folder), "-j2", "install", "scanner", "linters"], "installs (not timed)", env=env)
    found = {}
    for number, (name, extra) in enumerate(VARIANTS.items()):
        found[name] = maketest.make_test(folder, root / f"junit-{number}.xml", **extra)
    measures = []
    for name, result in found.items():
        failed = "; ".join(result["failed"]) or "no failure"
        what = "with the favouring and the course-first scheduling" if name == "as is" else "without either"
        measures.append(Measure(f"make test {name} ({what})", result["seconds"], text=f"failed: {failed}"))
    saved = found["plain"]["seconds"] - found["as is"]["seconds"]
    note = f"plain - as is, one run each, clone of {cloned['commit']}"
    if cloned["uncommitted_changes"]:
        note += " (uncommitted changes not included)"
    measures.append(Measure("  time the harness saves", saved, text=note))
    return Part(measures, {"clone": cloned, "runs": found})
