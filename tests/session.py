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


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "after_course: runs after the cells of notebook 09, before the teardown notebook 10")


def pytest_collection_modifyitems(session, config, items):
    """Tests marked after_course go between notebook 09 and notebook 10 (the course's state exists)."""
    late = [item for item in items if item.get_closest_marker("after_course")]
    if not late:
        return
    rest = [item for item in items if item not in late]
    teardown = next((n for n, item in enumerate(rest) if Path(str(item.fspath)).name.startswith("10-")), len(rest))
    items[:] = rest[:teardown] + late + rest[teardown:]


def pytest_collection_finish(session):
    """Start background jobs beside the notebook chain: terraform/ applied alone, when a test will compare it
    with the course; the exercise notebooks executed, when a test will read the result."""
    if any(item.get_closest_marker("after_course") and "standalone_run" in getattr(item, "fixturenames", ())
           for item in session.items):
        from tests.course_support import Standalone

        session.config.course_standalone = Standalone.start()
    if any("exercise_run" in getattr(item, "fixturenames", ()) for item in session.items):
        from tests.exercise_support import ExerciseRun

        session.config.course_exercises = ExerciseRun.start()


def pytest_sessionfinish(session, exitstatus):
    from helpers import emulator

    run = getattr(session.config, "course_exercises", None)
    if run is not None:
        run.stop()
    emulator.stop()
