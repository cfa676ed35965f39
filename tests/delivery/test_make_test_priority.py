"""make test's course chain gets the CPU first (tests/support/priority.py): the sessions its workspace starts are
favoured, nobody else's, and where that is not allowed nothing happens."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support import priority

needs_root_and_autogroups = pytest.mark.skipif(
    not priority.possible(), reason="favouring a session needs Linux with autogroups, as root (CI: both)"
)


def _autogroup_nice(pid: int) -> int:
    return int((priority.PROC / str(pid) / "autogroup").read_text().split("nice")[1])


def _sleeper(workspace: str, *, own_session: bool = True) -> subprocess.Popen:
    env = dict(os.environ, COURSE_WORKSPACE=workspace)
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(10)"], env=env, start_new_session=own_session
    )


@needs_root_and_autogroups
def test_sessions_of_the_course_workspace_are_favoured_and_no_other(tmp_path):
    course, other = str(tmp_path / "course"), str(tmp_path / "other")
    before = _sleeper(course)  # started before the thread: the course's emulator is
    favour = priority.Favour.start(course)
    procs = [before]
    try:
        procs += [_sleeper(course), _sleeper(other)]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not {procs[0].pid, procs[1].pid} <= favour.favoured:
            time.sleep(0.1)
        assert _autogroup_nice(procs[0].pid) == priority.NICE
        assert _autogroup_nice(procs[1].pid) == priority.NICE
        assert _autogroup_nice(procs[2].pid) == 0, "another workspace's session keeps its weight"
        assert _autogroup_nice(os.getpid()) == 0, "pytest's own session (the other workers') is never changed"
    finally:
        favour.stop()
        for proc in procs:
            proc.kill()
            proc.wait()


@needs_root_and_autogroups
def test_a_process_that_leads_no_session_is_left_alone(tmp_path):
    """Its session is pytest's: favouring it would favour every worker."""
    course = str(tmp_path / "course")
    favour = priority.Favour(course)  # no thread: its passes by hand
    proc = _sleeper(course, own_session=False)
    try:
        for _ in range(3):
            favour.look()
        assert not priority.session_leader(proc.pid)
        assert proc.pid not in favour.favoured and _autogroup_nice(proc.pid) == 0
    finally:
        proc.kill()
        proc.wait()


def test_without_the_right_to_favour_it_starts_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(priority, "PROC", tmp_path / "no-proc")  # macOS, or a kernel without autogroups
    assert not priority.possible()
    assert priority.Favour.start(str(tmp_path)) is None
