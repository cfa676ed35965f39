"""Emulator lifecycle: idempotent, health-checked, one per workspace, survives its starter."""

from __future__ import annotations

import socket
import subprocess
import sys

from helpers import workspace
from helpers.runtime import emulator
from tests.support.waiting import wait_until


def test_start_is_idempotent_and_remembered(emulator_url):
    first = emulator.status()
    assert first["running"] and first["url"] == emulator_url
    assert emulator.start() == emulator_url
    assert emulator.status()["pid"] == first["pid"]  # same process, not a second one
    assert workspace.read_json("emulator.json")["port"] == first["port"]


def test_health_answer_identifies_our_server_and_its_fixes(emulator_url):
    answer = emulator.health(emulator.status()["port"])
    assert answer["service"] == "course-emulator"
    assert answer["workspace"] == str(workspace.root())
    assert "ecs_bridge_service_network_configuration" in answer["fixes"]


def test_another_program_on_the_port_is_not_mistaken_for_the_emulator():
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        assert emulator.health(other.getsockname()[1], timeout=0.3) is None


def test_emulator_outlives_the_process_that_started_it(other_workspace):
    proc = subprocess.run(
        [sys.executable, "-m", "helpers", "emulator", "start"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    state = emulator.status()  # the starter has exited; a notebook finds the same emulator
    assert state["running"] and state["url"] in proc.stdout


def test_busy_default_port_picks_a_free_one_and_says_so(other_workspace, capsys):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        workspace.write_json("emulator.json", {"port": busy})  # the remembered port is taken
        url = emulator.start()
    assert not url.endswith(f":{busy}")
    assert f"Port {busy} is in use" in capsys.readouterr().out
    assert workspace.read_json("emulator.json")["port"] == int(url.rsplit(":", 1)[1])


def test_stop_then_start_and_reset_clears_data(other_workspace):
    import boto3

    url = emulator.start()
    ec2 = boto3.client(
        "ec2", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    ec2.create_security_group(GroupName="reset-me", Description="x")
    emulator.reset()
    names = [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]]
    assert "reset-me" not in names
    assert emulator.stop() is True and emulator.status()["running"] is False
    assert emulator.stop() is False


def _paused(pid: int, seconds: float):
    """The emulator process stopped (SIGSTOP) for ``seconds``, as a loaded machine can stall it; resumed after."""
    import os
    import signal
    import threading

    os.kill(pid, signal.SIGSTOP)
    timer = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
    timer.start()
    return timer


def test_a_busy_emulator_is_waited_for_not_replaced(other_workspace):
    """No answer within a second, but its process runs: status() waits for it (BUSY_TIMEOUT) instead of reporting
    it gone, which would make the next call start a second, empty emulator."""
    import os
    import signal

    emulator.start()
    first = emulator.status()
    timer = _paused(first["pid"], 2.5)
    try:
        again = emulator.status()
        assert again["running"] and again["pid"] == first["pid"] and again["url"] == first["url"]
        assert emulator.ensure() == first["url"]
    finally:
        timer.cancel()
        os.kill(first["pid"], signal.SIGCONT)


def test_a_reset_that_gets_no_answer_is_one_clear_error(other_workspace, monkeypatch):
    """The reset is bounded (RESET_TIMEOUT): past it, one message with what to do, not a socket traceback."""
    import os
    import signal

    import pytest

    from helpers.errors import CourseError

    emulator.start()
    pid = emulator.status()["pid"]
    real_ensure = emulator.ensure
    monkeypatch.setattr(emulator, "RESET_TIMEOUT", 1.0)
    monkeypatch.setattr(emulator, "BUSY_TIMEOUT", 0.2)  # reset() asks its status once more before the request
    timers = []
    monkeypatch.setattr(emulator, "ensure", lambda: (real_ensure(), timers.append(_paused(pid, 4.0)))[0])
    try:
        with pytest.raises(CourseError) as info:
            emulator.reset()
    finally:
        for timer in timers:
            timer.cancel()
        os.kill(pid, signal.SIGCONT)
    assert "did not confirm the reset within 1 s" in info.value.what
    assert "python -m helpers emulator reset" in info.value.fix


def test_stop_ends_a_hung_emulator_too(other_workspace, monkeypatch):
    """Its process runs but never answers (stopped here with SIGSTOP): stop() kills it rather than leave it behind."""
    import os
    import signal

    from helpers.runtime import processes

    emulator.start()
    pid = emulator.status()["pid"]
    monkeypatch.setattr(emulator, "BUSY_TIMEOUT", 0.2)
    os.kill(pid, signal.SIGSTOP)
    try:
        assert emulator.stop() is True
        # the kill is immediate; reaping by init may take a moment
        wait_until(lambda: not processes.alive(pid), within=30, what=f"the hung emulator {pid} gone")
    finally:
        if processes.alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert not emulator.status()["running"]
