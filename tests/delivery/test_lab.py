"""`make lab`'s JupyterLab comes up and starts a working kernel that imports the helpers."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

pytestmark = pytest.mark.jupyter  # make check leaves it out: it starts Jupyter

REPO = Path(__file__).resolve().parents[2]


async def execute(url: str, code: str) -> str:
    """Run code in a kernel through JupyterLab's websocket, as the browser does; return its stdout."""
    from tornado.websocket import websocket_connect

    conn = await websocket_connect(url)
    msg_id = uuid.uuid4().hex
    await conn.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": False,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": True,
                },
            }
        )
    )
    out = []
    while True:
        raw = await asyncio.wait_for(conn.read_message(), timeout=60)
        assert raw is not None, "the kernel's websocket closed"
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            conn.close()
            return "".join(out)


def test_jupyterlab_serves_the_notebooks_with_a_working_kernel(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "course-test-token"
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            "--ServerApp.root_dir=notebooks",
            "--allow-root",
            f"--ServerApp.runtime_dir={tmp_path}",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {token}"}

    def call(path, method="GET", body=None):
        req = urllib.request.Request(
            base + path, method=method, headers=headers, data=None if body is None else json.dumps(body).encode()
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    try:
        # JupyterLab starts in a few seconds; 30 s with margin for a loaded machine
        wait_until(lambda: call("/api/status"), until=lambda _: True, within=30, what="JupyterLab", ignoring=(OSError,))
        contents = call("/api/contents")
        assert "00-setup.ipynb" in [item["name"] for item in contents["content"]]
        # Offline: JupyterLab must not ask about "official Jupyter news" (make install's overrides.json).
        schema = call("/lab/api/settings/@jupyterlab/apputils-extension:notification")["schema"]["properties"]
        assert schema["fetchNews"]["default"] == "false" and schema["checkForUpdates"]["default"] is False
        kernel = call("/api/kernels", "POST", {"name": "python3"})
        output = asyncio.run(
            execute(
                f"ws://127.0.0.1:{port}/api/kernels/{kernel['id']}/channels?token={token}",
                "import helpers, helpers.tf.runner; print('helpers from', helpers.__name__)",
            )
        )
        assert output == "helpers from helpers\n"
        with urllib.request.urlopen(urllib.request.Request(base + "/lab", headers=headers), timeout=10) as page:
            assert page.status == 200
        call(f"/api/kernels/{kernel['id']}", "DELETE")
    finally:
        lab.terminate()
        lab.wait(timeout=20)
