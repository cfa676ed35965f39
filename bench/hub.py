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
CELL_WITHIN = 900.0  # seconds for one cell: Terraform's apply of the load balancer is the longest (about 2 min)
PASSWORD = "bench-" + uuid.uuid4().hex[:10]
CELL = (
    "import os, boto3, helpers\n"
    "from helpers.runtime import aws\n"
    "print(aws.client('sts').get_caller_identity()['Account'])\n"
)


def helpers_cli(ws: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COURSE_WORKSPACE=str(ws))
    return subprocess.run(
        [sys.executable, "-m", "helpers", "hub", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_learner(url: str, name: str, password: str = PASSWORD) -> str:
    """Log ``name`` in through the form, get a token, start their server and wait for it; their token."""
    import requests  # jupyterhub's dependency: only the hub parts need it

    http = requests.Session()
    http.get(url + "/hub/login", timeout=30)
    form = {"username": name, "password": password, "_xsrf": http.cookies.get("_xsrf", path="/hub/")}
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
    return token


def open_kernel(url: str, name: str, token: str, notebook: str | None = None):
    """A kernel in ``name``'s server (for ``notebook``, a path in their notebooks: its folder is the kernel's
    working directory, as when they open it in JupyterLab); its websocket and its id."""
    import requests
    import websocket  # websocket-client, which jupyter_server brings

    auth = {"Authorization": f"token {token}"}
    if notebook:
        body = {"path": notebook, "type": "notebook", "name": notebook, "kernel": {"name": "python3"}}
        kernel = requests.post(f"{url}/user/{name}/api/sessions", headers=auth, json=body, timeout=60).json()["kernel"]
    else:
        kernel = requests.post(f"{url}/user/{name}/api/kernels", headers=auth, json={}, timeout=60).json()
    ws = websocket.create_connection(
        url.replace("http", "ws", 1) + f"/user/{name}/api/kernels/{kernel['id']}/channels",
        header=[f"Authorization: token {token}"],
        timeout=CELL_WITHIN,
    )
    return ws, kernel["id"]


def execute(ws, name: str, code: str) -> dict:
    """Run ``code`` in the kernel behind ``ws``; {stdout, error} once it is idle again."""
    msg = uuid.uuid4().hex
    header = {"msg_id": msg, "username": name, "session": msg, "msg_type": "execute_request", "version": "5.3"}
    content = {"code": code, "silent": False, "store_history": True, "allow_stdin": False}
    ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "channel": "shell", "content": content}))
    out, error = [], None
    while True:
        reply = json.loads(ws.recv())
        if reply.get("parent_header", {}).get("msg_id") != msg:
            continue
        kind, body = reply["msg_type"], reply["content"]
        if kind == "stream":
            out.append(body["text"])
        elif kind == "error":
            error = f"{body['ename']}: {body['evalue']}"
        elif kind == "status" and body["execution_state"] == "idle":
            return {"stdout": "".join(out), "error": error}


def _learner(url: str, name: str) -> str:
    """Log ``name`` in, start their server, run CELL in a kernel; their token."""
    token = start_learner(url, name)
    ws, _ = open_kernel(url, name, token)
    try:
        execute(ws, name, CELL)
    finally:
        ws.close()
    return token


def memory(pids) -> tuple[float, float]:
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


def pids_of_user(uid: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and owner(p) == uid]


def owner(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def tree(root_pid: int) -> list[int]:
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
    port = free_port()
    started = helpers_cli(ws, "start", "--port", str(port), "--password", PASSWORD)
    if started.returncode:
        raise RuntimeError(started.stderr.strip()[-2000:])
    url = f"http://127.0.0.1:{port}"
    try:
        names = [f"b{n}{uuid.uuid4().hex[:4]}" for n in range(LEARNERS)]
        began = time.perf_counter()
        for name in names:
            _learner(url, name)
        seconds = time.perf_counter() - began
        per = {n: memory(pids_of_user(pwd.getpwnam("course-" + n).pw_uid)) for n in names}
        record = json.loads((ws / "hub" / "hub.json").read_text())
        hub_pss, hub_rss = memory([p for p in tree(record["pid"]) if owner(str(p)) == 0])  # not the servers
        emulator = json.loads((ws / "emulator.json").read_text()).get("pid")
        room_pss, _ = memory([emulator]) if emulator else (0.0, 0.0)
    finally:
        helpers_cli(ws, "stop", "--remove-learners")
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
