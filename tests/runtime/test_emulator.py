"""Emulator lifecycle: idempotent, health-checked, one per workspace, survives its starter."""

from __future__ import annotations

import socket
import subprocess
import sys

from helpers import workspace
from helpers.runtime import emulator


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
