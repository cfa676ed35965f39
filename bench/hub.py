"""(i) The workshop hub: memory per learner and the hub's own, for INSTRUCTOR.md's sizing.

    .venv/bin/python bench/run.py --only hub     (part of: make bench, ~2 min on 2 cores; Linux, as root)

``python -m helpers hub start`` on loopback in a workspace of its own; LEARNERS learners log in through the
login form, get a token, start their server (each as their own Unix user) and run one cell in a kernel of
theirs that imports what the notebooks import (the course's helpers, boto3) and asks the room who they are.
Measured, once all are running: the PSS and RSS (smaps_rollup) of each learner's processes (server + kernel),
their mean and largest, and the hub's own (JupyterHub, its proxy, the idle culler, the room emulator). The lab
(part lab) and Terraform (not measured here) come on top per learner. Then ``hub stop --remove-learners``.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.common import REPO, Measure, Part

LEARNERS = 3
PASSWORD = "bench-" + uuid.uuid4().hex[:10]
CELL = (
    "import os, boto3, helpers\n"
    "from helpers.runtime import aws\n"
    "print(aws.client('sts').get_caller_identity()['Account'])\n"
)


def _helpers(ws: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COURSE_WORKSPACE=str(ws))
    return subprocess.run(
        [sys.executable, "-m", "helpers", "hub", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _learner(url: str, name: str) -> str:
    """Log ``name`` in through the form, start their server, run CELL in a kernel; their token."""
    import requests
    import websocket

    http = requests.Session()
    http.get(url + "/hub/login", timeout=30)
    form = {"username": name, "password": PASSWORD, "_xsrf": http.cookies.get("_xsrf", path="/hub/")}
    http.post(url + "/hub/login?next=", data=form, allow_redirects=False, timeout=30).raise_for_status()
    xsrf = {"X-XSRFToken": http.cookies.get("_xsrf", path="/hub/")}
    token = http.post(f"{url}/hub/api/users/{name}/tokens", json={}, headers=xsrf, timeout=30).json()["token"]
    auth = {"Authorization": f"token {token}"}
    requests.post(f"{url}/hub/api/users/{name}/server", headers=auth, timeout=60)
    deadline = time.monotonic() + 120  # the spawner's start_timeout (60 s) with a margin
    while (
        not requests.get(f"{url}/hub/api/users/{name}", headers=auth, timeout=30)
        .json()["servers"]
        .get("", {})
        .get("ready")
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}'s server did not start within 120 s")
        time.sleep(1)
    kernel = requests.post(f"{url}/user/{name}/api/kernels", headers=auth, json={}, timeout=60).json()["id"]
    ws = websocket.create_connection(
        url.replace("http", "ws", 1) + f"/user/{name}/api/kernels/{kernel}/channels",
        header=[f"Authorization: token {token}"],
        timeout=120,
    )
    msg = uuid.uuid4().hex
    header = {"msg_id": msg, "username": name, "session": msg, "msg_type": "execute_request", "version": "5.3"}
    ws.send(
        json.dumps(
            {
                "header": header,
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "content": {"code": CELL, "silent": False, "store_history": False, "allow_stdin": False},
            }
        )
    )
    while True:
        reply = json.loads(ws.recv())
        if reply.get("parent_header", {}).get("msg_id") == msg and reply["msg_type"] == "status":
            if reply["content"]["execution_state"] == "idle":
                break
    ws.close()
    return token


def _memory(pids) -> tuple[float, float]:
    """(PSS MB, RSS MB) summed over ``pids``."""
    pss = rss = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
        except OSError:
            continue
        kb = {line.split(":")[0]: int(line.split()[1]) for line in lines if line.split()[1].isdigit()}
        pss, rss = pss + kb.get("Pss", 0), rss + kb.get("Rss", 0)
    return pss / 1024, rss / 1024


def _pids_of_user(uid: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _owner(p) == uid]


def _owner(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _tree(root_pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                parent = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(p))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def run(root: Path) -> Part:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return Part([Measure("(i) hub", None, text="skipped: the hub needs Linux and root")])
    ws = root / "hub"
    ws.mkdir(parents=True)
    port = _free_port()
    started = _helpers(ws, "start", "--port", str(port), "--password", PASSWORD)
    if started.returncode:
        raise RuntimeError(started.stderr.strip()[-2000:])
    url = f"http://127.0.0.1:{port}"
    try:
        names = [f"b{n}{uuid.uuid4().hex[:4]}" for n in range(LEARNERS)]
        began = time.perf_counter()
        for name in names:
            _learner(url, name)
        seconds = time.perf_counter() - began
        per = {n: _memory(_pids_of_user(pwd.getpwnam("course-" + n).pw_uid)) for n in names}
        record = json.loads((ws / "hub" / "hub.json").read_text())
        hub_pss, hub_rss = _memory([p for p in _tree(record["pid"]) if _owner(str(p)) == 0])  # not the servers
        emulator = json.loads((ws / "emulator.json").read_text()).get("pid")
        room_pss, _ = _memory([emulator]) if emulator else (0.0, 0.0)
    finally:
        _helpers(ws, "stop", "--remove-learners")
    mean = sum(p for p, _ in per.values()) / len(per)
    largest = max(p for p, _ in per.values())
    return Part(
        [
            Measure(f"(i) hub: {LEARNERS} learners log in, start, run a cell", seconds),
            Measure("    per learner: server + kernel (PSS, mean)", mean, "MB"),
            Measure("    per learner: server + kernel (PSS, largest)", largest, "MB"),
            Measure("    the hub: JupyterHub + proxy + culler (PSS)", hub_pss, "MB"),
            Measure("    the hub's room emulator, idle (PSS)", room_pss, "MB"),
        ],
        {
            "learners": {n: {"pss_mb": round(p, 1), "rss_mb": round(r, 1)} for n, (p, r) in per.items()},
            "hub_pss_mb": round(hub_pss, 1),
            "hub_rss_mb": round(hub_rss, 1),
            "room_emulator_pss_mb": round(room_pss, 1),
        },
    )
