"""The test harness itself: the one bounded wait (tests/support/waiting.py), and the session's emulator, which
starts only for the tests that ask for it (tests/plugin/session.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


def test_wait_until_returns_the_first_answer_that_holds():
    answers = iter([0, [], 3, 4])
    assert wait_until(lambda: next(answers), within=5, what="a truthy answer", every=0) == 3
    answers = iter([1, 2, 3])
    assert wait_until(lambda: next(answers), until=lambda n: n >= 2, within=5, what="two", every=0) == 2


def test_wait_until_fails_naming_what_it_awaited_and_what_it_last_saw():
    began = time.monotonic()
    with pytest.raises(AssertionError, match=r"targets healthy: not within 0.3 s; last seen: \{'a': 'initial'\}"):
        wait_until(
            lambda: {"a": "initial"}, until=lambda rows: "healthy" in rows.values(), within=0.3, what="targets healthy"
        )
    assert time.monotonic() - began >= 0.3  # it waited the whole bound, not less


def test_wait_until_counts_the_errors_it_is_told_to_ignore_as_not_yet_and_can_return_a_default():
    calls = []

    def refused():
        calls.append(1)
        raise ConnectionRefusedError("nothing listens")

    with pytest.raises(AssertionError, match="last seen: ConnectionRefusedError"):
        wait_until(refused, within=0.2, what="a listener", every=0.05, ignoring=(OSError,))
    assert len(calls) >= 2  # looked again, and once more at the deadline
    assert wait_until(lambda: None, within=0.1, what="never", otherwise="recorded") == "recorded"
    with pytest.raises(ZeroDivisionError):  # any other error is the test's failure, at once
        wait_until(lambda: 1 / 0, within=5, what="a division", ignoring=(OSError,))


def _pytest_run(tmp_path: Path, test_source: str) -> subprocess.CompletedProcess:
    """pytest with the course's session plugin alone on one test file, in a test workspace of its own (no nbval,
    xdist or hypothesis: no notebook is collected, and loading Jupyter would cost seconds)."""
    test_file = tmp_path / "test_one.py"
    test_file.write_text(test_source)
    env = dict(os.environ, COURSE_TEST_WORKSPACE=str(tmp_path / "ws"), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    env.pop("PYTEST_XDIST_WORKER", None)
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO)]
    command += ["-o", "addopts=", "-p", "tests.plugin.session", "-p", "no:cacheprovider", "-rA"]
    return subprocess.run([*command, str(test_file)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _emulators_of(folder: Path) -> list[int]:
    """The pids of the emulator servers running for a workspace under ``folder``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"helpers.runtime.emulator_server" in argv and any(str(folder).encode() in arg for arg in argv):
            found.append(int(cmdline.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="looks for the emulator's process in /proc")
def test_a_pure_test_run_alone_starts_no_emulator(tmp_path):
    run = _pytest_run(tmp_path, "def test_pure():\n    assert sorted([3, 1, 2]) == [1, 2, 3]\n")
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout + run.stderr
    assert not list(tmp_path.rglob("emulator.json")), "the emulator's state file was written"
    assert _emulators_of(tmp_path) == []


@pytest.mark.emulator
def test_a_test_that_asks_gets_the_emulator_and_one_that_does_not_ask_may_not_start_it(tmp_path):
    """Control of the test above: asked for, the emulator starts (and is stopped at the end); started by a test
    that did not ask, it is that test's error, naming the fixture to ask with."""
    source = """
from helpers.runtime import aws, emulator


def test_a_not_asking():
    emulator.ensure()


def test_b_asking(emulator_url):
    assert emulator_url.startswith("http://127.0.0.1:")
    assert aws.client("ec2").describe_vpcs()["Vpcs"]
"""
    run = _pytest_run(tmp_path, source)
    assert "2 passed, 1 error" in run.stdout, run.stdout + run.stderr  # the error: test_a_not_asking's teardown
    assert (
        "test_a_not_asking started the emulator without asking for it: give it the emulator_url fixture" in run.stdout
    )
    assert (tmp_path / "ws" / "emulator.json").exists()
    assert _emulators_of(tmp_path) == [], "the session stops the emulator it started"


def test_a_test_that_does_not_ask_for_the_emulator_may_not_start_a_background_job(tmp_path):
    """A background job (tests/support/background.py) runs an emulator of its own and real waits, minutes: a test
    that asks for no emulator is in make check, so starting one there is that test's error, saying how to mark it.
    (The job here would be a real one; the guard refuses it before any process starts.)"""
    source = """
from tests.support.room_lab_support import RoomLabRun


def test_not_asking():
    RoomLabRun.start()
"""
    run = _pytest_run(tmp_path, source)
    assert "1 failed" in run.stdout, run.stdout + run.stderr
    assert "test_not_asking starts a background job (two learners' labs in one room)" in run.stdout, run.stdout
    assert "mark the test emulator" in run.stdout
    assert not (tmp_path / "ws" / "room-lab" / "result.json").exists() and _emulators_of(tmp_path) == []


def test_the_lab_modules_handed_out_apart_from_the_labs_unit_exist():
    """tests/plugin/session.py hands these out like any other module (they time no real process): a renamed one
    would silently rejoin the lab's unit."""
    from tests.plugin import session

    assert session.LAB_UNTIMED and all((REPO / path).is_file() for path in session.LAB_UNTIMED), session.LAB_UNTIMED
