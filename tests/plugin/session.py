"""pytest plugin (loaded by `-p tests.plugin.session` in pyproject.toml, before anything else).

One emulator for the whole test session, in a workspace of its own: the
tests and the notebooks nbval runs use ``.course-test`` instead of the
learner's ``.course``, so ``make test`` never touches a course in progress.
A conftest.py in tests/ would be loaded too late for the notebooks/ items.

The emulator starts (fresh: no stacks, no lab, no settings left by an earlier session) only when the first
test that asks for it runs. A test asks with the ``emulator_url`` fixture (a module-scoped fixture or a whole
module: ``session_emulator``, e.g. ``pytestmark = pytest.mark.usefixtures("session_emulator")``), or with a
marker: ``lab`` (it runs the traffic lab: every test in tests/lab/ is marked so here) or ``emulator`` (it starts
emulators of its own). The notebooks and the course's chain (``after_course``, BESIDE_COURSE) get it too. This
plugin marks every one of them ``emulator``; a test that does not ask and starts the session's emulator anyway
fails, naming the fixture. ``make check`` runs the tests that ask for none, except those marked ``terraform`` (they
run the Terraform binary, even if only ``terraform fmt``, or checkov over terraform/) or ``jupyter`` (they start a kernel, JupyterLab or an
nbval session): seconds of CPU each. A new test that needs none of them is in it, without a mark.

``make test`` runs four pytest-xdist workers (``-n 4``, scheduler below): the
notebooks, in order, with the tests that need the course applied (one "course"
scope, handed out first) on one worker, alone: it is the longest path, and (as
root) its processes get the CPU first (tests/support/priority.py); the traffic lab's tests as
one unit; the other tests, module by module, on the workers left. The course's
provider waits leave the CPU idle, so the rest overlaps it. Each worker has its own
workspace and emulator (``.course-test/<worker>``), so nothing one does can disturb another.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1" under xdist; None otherwise
_base = Path(os.environ.get("COURSE_TEST_WORKSPACE", str(REPO / ".course-test")))
SESSION_WORKSPACE = _base / WORKER if WORKER else _base
os.environ["COURSE_WORKSPACE"] = str(SESSION_WORKSPACE)
COURSE_GROUP = "course"
# Modules that read a background job's report: they run on the course's worker, after notebook 09,
# so their jobs (started with the course) have finished by then and run only once.
BESIDE_COURSE = ("tests/publishing/test_site.py", "tests/publishing/test_slides.py")
# The traffic lab's tests time real processes (health checks, re-syncs within a second): one module at a
# time, on one worker, so that two of them never starve each other of the CPU.
LAB_GROUP = "tests/lab/"
# The lab's modules that time no real process (they read or write the emulator, parse, or check nft's syntax):
# handed out like any other module, beside the lab's unit (the whole of tests/lab/ run alone: 451 s on 2 cores
# at load 4-8; these modules about 100 s of it). tests/hygiene/test_harness.py checks that each exists.
LAB_UNTIMED = tuple(
    f"{LAB_GROUP}{name}.py"
    for name in (
        "test_model",
        "test_alb_http",
        "test_alb_config",
        "test_health_writeback",
        "test_changes",
        "test_filters",
    )
)
# bench/harness.py's comparison: "plain" runs without the CPU favouring and the course-first hand-out
# (the course's notebooks still go to one worker, in order: they build one stack).
PLAIN_HARNESS = os.environ.get("COURSE_TEST_HARNESS") == "plain"
os.environ.pop("COURSE_TARGET", None)  # tests run on the emulator unless a test says otherwise
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("COURSE_EMULATOR_URL", None)  # the session's own emulator, never a workshop room's
os.environ.pop("COURSE_LEARNER", None)


def _controller(config) -> bool:
    """The xdist controller only hands out tests: it needs no emulator."""
    return WORKER is None and bool(getattr(config.option, "numprocesses", None))


def pytest_sessionstart(session):
    """An emulator left running by an interrupted session goes at once: a test that started it without asking
    would otherwise go unseen (the guard compares the emulator's pid before and after each such test)."""
    if not _controller(session.config) and _emulator_pid() is not None:
        from helpers.runtime import emulator

        emulator.stop()


def _start_emulator(config) -> None:
    """Start the session's emulator, fresh, once: old stacks would make notebooks print "no changes" where their
    committed outputs say "1 added"; a lab left by an interrupted session goes too."""
    from helpers import workspace
    from helpers.runtime import emulator

    if getattr(config, "course_emulator_started", False):
        return
    config.course_emulator_started = True
    _course_lab_down()
    emulator.stop()
    shutil.rmtree(workspace.path("stacks"), ignore_errors=True)
    workspace.path("config.json").unlink(missing_ok=True)
    emulator.start(quiet=True)


@pytest.fixture(scope="session")
def session_emulator(request) -> None:
    """The session's emulator runs (started for the first test that asks for it). For a module-scoped fixture
    that needs it, or a whole module: ``pytestmark = pytest.mark.usefixtures("session_emulator")``."""
    _start_emulator(request.config)


@pytest.fixture
def emulator_url(session_emulator) -> str:
    """The session's emulator URL (started again if a test stopped it)."""
    from helpers.runtime import emulator

    return emulator.ensure()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "after_course: runs after the cells of notebook 09, before the teardown notebook 10"
    )
    config.addinivalue_line("markers", "emulator: uses the session's emulator (this plugin marks the tests that ask)")
    config.addinivalue_line("markers", "terraform: runs Terraform, or checkov over terraform/ (not in make check)")
    config.addinivalue_line("markers", "lab: runs the traffic lab, on the emulator (every test in tests/lab/)")
    config.addinivalue_line(
        "markers", "jupyter: starts Jupyter (a kernel, JupyterLab, an nbval session): not in make check"
    )


@pytest.hookimpl(tryfirst=True)  # its marks are read by -m, which deselects in the same hook
def pytest_collection_modifyitems(session, config, items):
    """Tests marked after_course go between notebook 09 and notebook 10 (the course's state exists)."""
    late = [item for item in items if item.get_closest_marker("after_course")]
    for item in late:
        if "after_course" not in item.name:  # the xdist scheduler sees only node ids
            raise pytest.UsageError(f"{item.nodeid} is marked after_course: name it test_after_course_...")
    beside = [item for item in items if item.nodeid.startswith(BESIDE_COURSE)]
    rest = [item for item in items if item not in late and item not in beside]
    teardown = next((n for n, item in enumerate(rest) if Path(str(item.fspath)).name.startswith("10-")), len(rest))
    items[:] = rest[:teardown] + beside + late + rest[teardown:]
    for item in items:
        if item.nodeid.startswith(LAB_GROUP):
            item.add_marker("lab")
        if _asks_for_the_emulator(item):
            item.add_marker("emulator")
    _lab_cells_unchecked_without_the_lab(items)


def _asks_for_the_emulator(item) -> bool:
    return (
        _in_course(item)
        or "session_emulator" in getattr(item, "fixturenames", ())
        or any(item.get_closest_marker(name) for name in ("emulator", "lab"))
    )


def _lab_cells_unchecked_without_the_lab(items) -> None:
    """Where the traffic lab cannot run (macOS, no user namespaces), a notebook cell that uses it (``lab.``)
    prints one line instead of the lab's real answers: it still runs, but its output is not compared.
    Where the lab runs (CI, as root), every output is compared strictly."""
    from helpers.runtime import lab_machine

    if lab_machine.check().ok:
        return
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and "lab." in "".join(cell.get("source", "")):
            item.options["check"] = False


@pytest.hookimpl(optionalhook=True)  # a session without xdist (tests/hygiene/test_harness.py) has no such hook
def pytest_xdist_make_scheduler(config, log):
    """The course (notebooks and after_course tests, in order) as one unit, alone on its worker; the lab's modules
    as one unit; every other module.

    (xdist's own "loadgroup" cannot be used: with pytest 9 it no longer groups, it
    renames ``item._nodeid``, which pytest stopped reading.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        course_node = None  # the worker that runs the course

        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(("notebooks/", *BESIDE_COURSE)) or "after_course" in nodeid:
                return COURSE_GROUP
            if nodeid.startswith(LAB_GROUP) and not nodeid.startswith(LAB_UNTIMED):
                return LAB_GROUP
            return nodeid.split("::", 1)[0]

        def _assign_work_unit(self, node) -> None:
            """The course first, whatever the sizes; then its worker runs it alone, since it is the longest path.

            (xdist hands a worker the next unit while its last two tests are pending. The course's worker gets one
            only at its very last test, which a worker holds until it has a next one or is told to stop.)
            """
            if PLAIN_HARNESS:
                return super()._assign_work_unit(node)
            if self.course_node is None and COURSE_GROUP in self.workqueue:
                self.workqueue.move_to_end(COURSE_GROUP, last=False)
                self.course_node = node
            elif node is self.course_node and self._pending_of(self.assigned_work[node]) > 1:
                return
            super()._assign_work_unit(node)

        def remove_node(self, node):
            if node is self.course_node:  # crashed: its course goes back to the queue, for the next worker
                self.course_node = None
            return super().remove_node(node)

    return CourseScheduling(config, log)


def _in_course(item) -> bool:
    return (
        Path(str(item.fspath)).parent.name == "notebooks"
        or item.nodeid.startswith(BESIDE_COURSE)
        or item.get_closest_marker("after_course") is not None
    )


# The background jobs that only use the CPU (the room's 8 learners, the exercises, the site and slides) start when
# the course reaches this notebook: its load balancer's fixed 60 s wait leaves the CPU idle, while notebooks 00-03
# need it (kernels, plans, the first applies). They still end well before the course's last notebook.
LATE_JOBS_AT = "notebooks/04-"


def pytest_runtest_setup(item):
    """When the course starts, start terraform/ applied alone and the traffic lab on it, and the two
    learners' labs in a room (background jobs whose provider waits take long); when it reaches
    LATE_JOBS_AT, the other background jobs a test will use (the workshop room; the exercises; the site
    and slides). A test that asks for no emulator may start no background job (tests/support/background.py)."""
    session = item.session
    from tests.support import background

    background.running_unmarked = None
    if not _asks_for_the_emulator(item):
        item.course_emulator_before = _emulator_pid()
        background.running_unmarked = item.nodeid  # it may start no background job (background.Job)
        return
    _start_emulator(session.config)
    if not _in_course(item):
        return
    if not getattr(session.config, "course_jobs_started", False):
        session.config.course_jobs_started = True
        _favour_the_course(session)
        _start_terraform_alone(session)
        _start_room_lab(session)
    late = item.nodeid >= LATE_JOBS_AT  # that notebook, a later one, or a test after the course's notebooks
    if late and not getattr(session.config, "course_late_jobs_started", False):
        session.config.course_late_jobs_started = True
        _start_late_jobs(session)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A test that did not ask for the emulator and started it fails: it must ask (emulator_url), so that
    ``make check`` and a run of pure tests never start one."""
    result = yield
    from tests.support import background

    background.running_unmarked = None
    before = getattr(item, "course_emulator_before", "not looked")
    if before != "not looked" and _emulator_pid() not in (None, before):
        from helpers.runtime import emulator

        emulator.stop()  # not left running for the next tests (and for after the session)
        pytest.fail(
            f"{item.nodeid} started the emulator without asking for it: give it the emulator_url fixture "
            '(or its module pytestmark = pytest.mark.usefixtures("session_emulator")), see tests/plugin/session.py',
            pytrace=False,
        )
    return result


def _emulator_pid() -> int | None:
    """The pid of the emulator the session's workspace runs (its state file; None when none runs)."""
    from helpers.runtime import emulator

    try:
        return json.loads((SESSION_WORKSPACE / emulator.STATE).read_text()).get("pid")
    except (OSError, ValueError):
        return None


def _favour_the_course(session) -> None:
    # The course's kernels, terraform runs, emulator and lab supervisor get a higher CPU weight than the rest (as
    # root: tests/support/priority.py): the chain is make test's longest path.
    from tests.support.priority import Favour

    if PLAIN_HARNESS:
        return
    session.config.course_favour = Favour.start(os.environ["COURSE_WORKSPACE"])


def _after_course_fixtures(session) -> set[str]:
    return {
        name for i in session.items if i.get_closest_marker("after_course") for name in getattr(i, "fixturenames", ())
    }


def _start_terraform_alone(session) -> None:
    # terraform/ applied alone (tests/support/course_support.py) and the traffic lab end to end on it
    # (tests/support/lab_e2e_support.py): one job, one apply; the lab's steps only where its tests will run.
    after_course = _after_course_fixtures(session)
    if {"standalone_run", "lab_run"} & after_course:
        from tests.support import lab_support
        from tests.support.lab_e2e_support import LabRun

        lab = "lab_run" in after_course and lab_support.kernel_missing() is None
        session.config.course_standalone = LabRun.start(*(["lab"] if lab else []))
        if lab:
            session.config.course_lab = session.config.course_standalone


def _start_room_lab(session) -> None:
    # Two learners' labs in one workshop room (tests/support/room_lab_support.py): as long as the
    # course itself (two applies with the provider's ALB wait, then the health checks' own timing),
    # mostly waiting, so it starts with the course. On a worker of its own it was handed out late,
    # after most modules, and ended last.
    if "room_lab_run" in _after_course_fixtures(session):
        from tests.support import lab_support

        if lab_support.kernel_missing() is None:
            from tests.support.room_lab_support import RoomLabRun

            session.config.course_room_lab = RoomLabRun.start()


def _start_late_jobs(session) -> None:
    # The workshop room (8 learners at once on one emulator, tests/support/room_support.py).
    if "room" in _after_course_fixtures(session):
        from tests.support.room_support import Room

        session.config.course_room = Room.start()
    # The exercise notebooks executed, when a test will read the result (tests/support/exercise_support.py).
    if any("exercise_run" in getattr(i, "fixturenames", ()) for i in session.items):
        from tests.support.exercise_support import ExerciseRun

        session.config.course_exercises = ExerciseRun.start()
    # The site and slides, built and walked in headless Chromium (tests/support/site_support.py).
    needed = {name for i in session.items for name in getattr(i, "fixturenames", ())}
    for kind in ("site", "slides"):
        if f"{kind}_report" in needed:
            from tests.support import site_support

            site_support.start(session.config, kind)


def pytest_sessionfinish(session, exitstatus):
    from helpers.runtime import emulator

    if _controller(session.config) or not getattr(session.config, "course_emulator_started", False):
        return
    favour = getattr(session.config, "course_favour", None)
    if favour is not None:
        favour.stop()
    for name in ("course_standalone", "course_room", "course_lab", "course_exercises", "course_room_lab"):
        job = getattr(session.config, name, None)
        if job is not None:  # still running if the session ended without waiting (e.g. -x)
            job.stop()
    _course_lab_down()
    emulator.stop()


def _course_lab_down() -> None:
    """Notebook 00 starts the traffic lab for the course's workspace and 10 stops it; a session that ended
    early (a failure, -x) must not leave its namespaces and processes behind."""
    from helpers.runtime import lab_machine

    if lab_machine.supervised():
        from helpers.lab.control import commands as control

        control.down()
