"""pytest plugin (loaded by `-p tests.session` in pyproject.toml, before anything else).

One emulator for the whole test session, in a workspace of its own: the
tests and the notebooks nbval runs use ``.course-test`` instead of the
learner's ``.course``, so ``make test`` never touches a course in progress.
A conftest.py in tests/ would be loaded too late for the notebooks/ items.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ["COURSE_WORKSPACE"] = os.environ.get("COURSE_TEST_WORKSPACE", str(REPO / ".course-test"))
os.environ.pop("COURSE_TARGET", None)  # tests run on the emulator unless a test says otherwise
os.environ.pop("AWS_ENDPOINT_URL", None)


def pytest_sessionstart(session):
    from helpers import emulator, workspace

    # A fresh start each session: old stacks would make notebooks print
    # "no changes" where their committed outputs say "1 added".
    emulator.stop()
    shutil.rmtree(workspace.path("stacks"), ignore_errors=True)
    workspace.path("config.json").unlink(missing_ok=True)
    emulator.start(quiet=True)


def pytest_sessionfinish(session, exitstatus):
    from helpers import emulator

    emulator.stop()
