"""make test's course chain gets the CPU first (tests/support/priority.py): the sessions its workspace starts are
favoured, nobody else's, and where that is not allowed nothing happens."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support import background, priority
from tests.support.waiting import wait_until

needs_root_and_autogroups = pytest.mark.skipif(
    not priority.possible(), reason="favouring a session needs Linux with autogroups, as root (CI: both)"
)


def _autogroup(pid: int) -> str:
    """``/autogroup-N nice K``; empty for the root autogroup (the sessions of PID 1, as in CI's container),
    whose weight no one can change."""
    return (priority.PROC / str(pid) / "autogroup").read_text().strip()


def _autogroup_nice(pid: int) -> int:
    return int(_autogroup(pid).split("nice")[1])


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
        pids = {proc.pid for proc in procs}
        # every one judged, the other one too: each new session within a few passes (EVERY, TRIES), 5 s with margin
        wait_until(lambda: favour._judged, until=lambda judged: pids <= judged, within=5, what="every session judged")
        assert _autogroup_nice(procs[0].pid) == priority.NICE
        assert _autogroup_nice(procs[1].pid) == priority.NICE
        assert _autogroup_nice(procs[2].pid) == 0, "another workspace's session keeps its weight"
        assert procs[2].pid not in favour.favoured
    finally:
        favour.stop()
        for proc in procs:
            proc.kill()
            proc.wait()


@needs_root_and_autogroups
def test_a_process_that_leads_no_session_is_left_alone(tmp_path, monkeypatch):
    """Its session is pytest's: favouring it would favour every worker. (Where pytest runs in PID 1's session, as
    in CI, that is the root autogroup, which the kernel lets no one change: so what is asked is recorded.)"""
    course = str(tmp_path / "course")
    asked = []
    real = priority.favour
    monkeypatch.setattr(priority, "favour", lambda pid, nice=priority.NICE: asked.append(pid) or real(pid, nice))
    favour = priority.Favour(course)  # no thread: its passes by hand
    follower, leader = _sleeper(course, own_session=False), _sleeper(course)
    try:
        before = _autogroup(follower.pid)
        for _ in range(4):  # as the thread does: one look every EVERY seconds
            favour.look()
            time.sleep(priority.EVERY)
        assert not priority.session_leader(follower.pid) and priority.session_leader(leader.pid)
        assert follower.pid not in asked and _autogroup(follower.pid) == before
        assert leader.pid in asked and leader.pid in favour.favoured, "control: the session leader is favoured"
    finally:
        for proc in (follower, leader):
            proc.kill()
            proc.wait()


@needs_root_and_autogroups
def test_the_session_the_thread_runs_in_is_never_changed(tmp_path):
    """pytest's own session is shared with the other workers: favouring it would favour them all. Here a process
    that leads a session of the workspace runs the passes itself; its own session must stay as it is."""
    code = (
        "import os; from tests.support import priority\n"
        "favour = priority.Favour(os.environ['COURSE_WORKSPACE'])\n"
        "for _ in range(3): favour.look()\n"
        "print(os.getpid() in favour.favoured, open(f'/proc/{os.getpid()}/autogroup').read().split('nice')[1].strip())"
    )
    env = dict(os.environ, COURSE_WORKSPACE=str(tmp_path / "course"))
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=background.REPO,
        start_new_session=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "0"]


def test_without_the_right_to_favour_it_starts_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(priority, "PROC", tmp_path / "no-proc")  # macOS, or a kernel without autogroups
    assert not priority.possible()
    assert priority.Favour.start(str(tmp_path)) is None
