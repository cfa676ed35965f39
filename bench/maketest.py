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
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from bench.common import REPO, Measure, Part, run_timed
from bench.cpu import CpuAccount, floor_text

BUDGET_S = 420.0
# Variables that would point the clone at this checkout's workspaces or venv.
FOREIGN = ("COURSE_WORKSPACE", "COURSE_TEST_WORKSPACE", "COURSE_TARGET", "VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL")
MAKE_TEST_TIMEOUT_S = 3600.0  # one `make test` that has not ended by then is stopped and recorded as such


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def clone(folder: Path) -> dict:
    """A clone of the committed HEAD in ``folder`` (uncommitted changes are not in it: the result says so)."""
    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    run_timed(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(folder)], "git clone")
    run_timed(["git", "-C", str(folder), "checkout", "--quiet", "--detach", commit], "git checkout")
    return {"commit": commit[:7], "uncommitted_changes": dirty}


def clean_environment(**extra: str) -> dict:
    return {**{k: v for k, v in os.environ.items() if k not in FOREIGN}, **extra}


def failed_tests(junit: Path) -> list[str]:
    """The failed and errored tests a pytest --junitxml report lists, as ``module.path::name`` (sorted)."""
    try:
        root = ElementTree.parse(junit).getroot()
    except (OSError, ElementTree.ParseError):
        return []
    failed = set()
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(f"{case.get('classname', '?')}::{case.get('name', '?')}")
    return sorted(failed)


def make_test(folder: Path, junit: Path, **env: str) -> dict:
    """``make test`` in the clone ``folder`` (its installs included): seconds, exit code and the failed tests' names
    (from pytest's junit report, passed with PYTEST_ARGS); ``env`` is added to its environment."""
    began = time.perf_counter()
    with CpuAccount() as cpu:
        try:
            done = subprocess.run(
                ["make", "-C", str(folder), "test", f"PYTEST_ARGS=--junitxml={junit}"],
                capture_output=True,
                text=True,
                env=clean_environment(**env),
                timeout=MAKE_TEST_TIMEOUT_S,
                preexec_fn=cpu.join,
            )
            code, tail = done.returncode, (done.stdout + done.stderr)[-3000:]
        except subprocess.TimeoutExpired:
            code, tail = None, f"stopped after {MAKE_TEST_TIMEOUT_S:.0f} s"
    seconds = time.perf_counter() - began
    failed = failed_tests(junit)
    if code and not failed:  # failed before pytest wrote its report (an install, a collection error)
        failed = ["(no test report: " + tail.strip().splitlines()[-1][:200] + ")"] if tail.strip() else ["(no report)"]
    cpu_s = None if cpu.seconds is None else round(cpu.seconds, 1)
    return {"seconds": round(seconds, 1), "exit_code": code, "failed": failed, "cpu_s": cpu_s}


def clean_clone(root: Path, *make_args: str) -> dict:
    """Seconds of ``make -j2 install scanner`` and ``make test MAKE_ARGS`` in a clone of the committed HEAD."""
    folder = root / "clone"
    found = clone(folder)
    env = clean_environment()
    # make test's own install step (Makefile: `$(MAKE) -j2 install scanner`), timed apart from the tests
    install = run_timed(
        ["make", "-C", str(folder), "-j2", "install", "scanner"], "make install scanner (clean clone)", env=env
    )
    with CpuAccount() as cpu:
        tests = run_timed(
            ["make", "-C", str(folder), "test", *make_args], "make test (clean clone)", env=env, preexec_fn=cpu.join
        )
    cpu_s = None if cpu.seconds is None else round(cpu.seconds, 1)
    return {**found, "install_s": round(install, 1), "test_s": round(tests, 1), "test_cpu_s": cpu_s}


def run(root: Path) -> Part:
    found = clean_clone(root)
    note = f"install {found['install_s']:.0f} s + tests {found['test_s']:.0f} s, clone of {found['commit']}"
    if found["uncommitted_changes"]:
        note += " (uncommitted changes not included)"
    cores = os.cpu_count() or 1
    return Part(
        [
            Measure("make test on a clean clone", found["install_s"] + found["test_s"], budget=BUDGET_S, text=note),
            Measure(
                "make test's CPU (tests, after the installs)",
                found["test_cpu_s"],
                text=floor_text(found["test_cpu_s"], cores),
            ),
        ],
        found,
    )
