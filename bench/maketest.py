"""`make test` on a clean clone, as CI runs it (.ci/run runs `make test`).

    .venv/bin/python bench/run.py --only make-test    (part of: make bench)

Clones the repository's committed HEAD (uncommitted changes are not in it:
the run says so) into a temporary folder, then times there what `make test` does on a
clean clone, in two parts: its installs (`make -j2 install scanner`: the course's venv and
checkov's, side by side, as `make test` runs them) and then `make test` itself, which finds
them installed and runs the tests. The budget is their sum, <= 7 min (issues "The traffic lab" and
"The course on the traffic lab": the notebooks now run real health checks). The machine's pip
cache is used as CI's would be. Graphviz must already be present (bench/run.py
checks it first).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.common import REPO, Measure, Part, run_timed

BUDGET_S = 420.0
# Variables that would point the clone at this checkout's workspaces or venv.
FOREIGN = ("COURSE_WORKSPACE", "COURSE_TEST_WORKSPACE", "COURSE_TARGET", "VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL")


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def clean_clone(root: Path, *make_args: str) -> dict:
    """Seconds of ``make -j2 install scanner`` and ``make test MAKE_ARGS`` in a clone of the committed HEAD."""
    clone = root / "clone"
    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    run_timed(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(clone)], "git clone")
    run_timed(["git", "-C", str(clone), "checkout", "--quiet", "--detach", commit], "git checkout")
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
    # make test's own install step (Makefile: `$(MAKE) -j2 install scanner`), timed apart from the tests
    install = run_timed(
        ["make", "-C", str(clone), "-j2", "install", "scanner"], "make install scanner (clean clone)", env=env
    )
    tests = run_timed(["make", "-C", str(clone), "test", *make_args], "make test (clean clone)", env=env)
    return {
        "commit": commit[:7],
        "uncommitted_changes": dirty,
        "install_s": round(install, 1),
        "test_s": round(tests, 1),
    }


def run(root: Path) -> Part:
    found = clean_clone(root)
    note = f"install {found['install_s']:.0f} s + tests {found['test_s']:.0f} s, clone of {found['commit']}"
    if found["uncommitted_changes"]:
        note += " (uncommitted changes not included)"
    return Part(
        [Measure("make test on a clean clone", found["install_s"] + found["test_s"], budget=BUDGET_S, text=note)], found
    )
