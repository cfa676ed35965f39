"""The lab supervisor's record, read in one place (helpers/runtime/lab_machine.py) by the lab (control.py) and by the
layers below it (the course's stack, the notebooks' publisher, the test session): it counts only while its process
runs, and a process that ended but was not reaped yet (a zombie) does not run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers import workspace
from helpers.runtime import lab_machine, processes
from tests.support.waiting import wait_until


def _write_record(pid: int) -> None:
    path = workspace.path(lab_machine.LAB_DIR, lab_machine.SUPERVISOR_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "endpoint": "http://127.0.0.1:1"}))


def test_a_record_counts_while_its_process_runs_and_not_once_it_ended(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path))
    assert lab_machine.supervisor() == {} and not lab_machine.supervised()  # no record
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _write_record(child.pid)
        assert lab_machine.supervisor()["pid"] == child.pid and lab_machine.supervised()
        child.kill()
        # ended, not reaped: a zombie (a SIGKILL takes effect at once; 10 s: a loaded machine)
        wait_until(lambda: _state(child.pid), until=lambda state: "Z" in state, within=10, what="a zombie")
        assert _state(child.pid) == "Z"
        assert os.path.exists(f"/proc/{child.pid}") and not lab_machine.supervised(), "a zombie runs nothing"
    finally:
        child.kill()
        child.wait()
    assert not processes.alive(child.pid)


def test_a_broken_record_reads_as_no_supervisor(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path))
    path = workspace.path(lab_machine.LAB_DIR, lab_machine.SUPERVISOR_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    for text in ("{not json", '["a list"]', '{"pid": "nope"}', '{"pid": 0}'):
        path.write_text(text)
        assert lab_machine.supervisor() == {}, text


def _state(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""
