"""The workshop hub for tests/workshop/test_hub.py: started with its real command, used as learners use it.

- ``Hub.start(folder, ...)``: ``python -m helpers hub start`` on loopback in a workspace of its own;
  ``stop()``: ``hub stop --remove-learners`` (the learners' Unix users and homes go too).
- ``Learner``: one learner through the hub's own pages and REST API (requests): the login form (with its
  _xsrf cookie), a token of their own (POST /hub/api/users/NAME/tokens), their server started
  (POST /hub/api/users/NAME/server) and waited for, then their Jupyter server's REST API (contents) and a
  kernel of theirs, spoken to over its websocket (the Jupyter messaging protocol:
  https://jupyter-client.readthedocs.io/en/stable/messaging.html).
Every wait is bounded: the hub's own start timeout (60 s, helpers/workshop/hub.py) with a margin.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
SPAWN_WITHIN = 120.0  # the spawner's start_timeout (60 s) and the server's first answer, with a margin
EXECUTE_WITHIN = 1800.0  # one kernel cell: three learners' applies of terraform/ at once (Terraform's own 900 s each)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_folder(kind: str) -> Path:
    """A fresh workspace for a hub, below the session's (pytest's own tmp folders are mode 700, and every
    learner runs the hub's Python from its workspace: helpers/workshop/hub_python.py)."""
    folder = Path(os.environ["COURSE_WORKSPACE"]) / f"{kind}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    return folder


def unique(name: str) -> str:
    """A learner name of the test's own (letters then hex: a valid learner name, 12 characters at most)."""
    return name + uuid.uuid4().hex[:5]


@dataclass
class Hub:
    folder: Path
    url: str
    password: str
    started: subprocess.CompletedProcess = None

    @classmethod
    def start(cls, folder: Path, password: str, *options: str) -> Hub:
        port = free_port()
        done = cls._helpers(folder, "start", "--port", str(port), "--password", password, *options)
        hub = cls(folder, f"http://127.0.0.1:{port}", password, done)
        assert done.returncode == 0, done.stdout + done.stderr
        return hub

    @staticmethod
    def _helpers(folder: Path, *args: str) -> subprocess.CompletedProcess:
        return Hub.instructor(folder, "hub", *args)

    @staticmethod
    def instructor(folder: Path, *args: str) -> subprocess.CompletedProcess:
        """``python -m helpers ARGS`` as the instructor runs it: as root, in the hub's workspace."""
        env = dict(os.environ, COURSE_WORKSPACE=str(folder))
        command = [sys.executable, "-m", "helpers", *args]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

    def stop(self) -> subprocess.CompletedProcess:
        return self._helpers(self.folder, "stop", "--remove-learners")

    def log(self) -> str:
        path = self.folder / "hub" / "hub.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class Learner:
    hub: Hub
    name: str
    http: requests.Session = field(default_factory=requests.Session)
    token: str = ""

    @property
    def unix(self) -> pwd.struct_passwd:
        return pwd.getpwnam("course-" + self.name)

    def login_form(self, password: str | None = None) -> requests.Response:
        """The login page's form, posted as a browser does (with the page's _xsrf cookie)."""
        self.http.get(self.hub.url + "/hub/login", timeout=30).raise_for_status()
        form = {"username": self.name, "password": password or self.hub.password, "_xsrf": self._xsrf()}
        return self.http.post(self.hub.url + "/hub/login?next=", data=form, allow_redirects=False, timeout=30)

    def _xsrf(self) -> str:
        return self.http.cookies.get("_xsrf", path="/hub/")

    def log_in(self) -> Learner:
        answer = self.login_form()
        assert answer.status_code == 302, (answer.status_code, answer.text[:500])
        made = self.http.post(
            f"{self.hub.url}/hub/api/users/{self.name}/tokens",
            json={"note": "tests/workshop/test_hub.py"},
            headers={"X-XSRFToken": self._xsrf()},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        self.token = made.json()["token"]
        return self

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, self.hub.url + path, headers=headers, timeout=60, **kwargs)

    def server(self) -> dict:
        return self.api("GET", f"/hub/api/users/{self.name}").json()["servers"].get("", {})

    def start_server(self) -> dict:
        answer = self.api("POST", f"/hub/api/users/{self.name}/server")
        assert answer.status_code in (201, 202, 400), answer.text  # 400: it runs already
        return self.wait_ready()

    def wait_ready(self) -> dict:
        return wait_until(
            self.server, until=lambda s: s.get("ready"), within=SPAWN_WITHIN, what=f"{self.name}'s server ready"
        )

    def contents(self, path: str = "") -> requests.Response:
        return self.api("GET", f"/user/{self.name}/api/contents/{path}")

    def server_process_user(self) -> str:
        """The Unix user that runs this learner's Jupyter server (ps)."""
        found = subprocess.run(
            ["pgrep", "-u", self.unix.pw_name, "-f", "jupyterhub.singleuser"], capture_output=True, text=True
        ).stdout.split()
        assert found, f"no server process of {self.unix.pw_name}"
        return pwd.getpwuid(os.stat(f"/proc/{found[0]}").st_uid).pw_name

    def run(self, code: str, within: float = EXECUTE_WITHIN) -> dict:
        """Run ``code`` in a kernel of this learner's server; {stdout, error} once it is idle again."""
        import websocket  # websocket-client, which jupyter_server brings

        kernel = self.api("POST", f"/user/{self.name}/api/kernels", json={"name": "python3"}).json()
        url = self.hub.url.replace("http", "ws", 1) + f"/user/{self.name}/api/kernels/{kernel['id']}/channels"
        ws = websocket.create_connection(url, header=[f"Authorization: token {self.token}"], timeout=within)
        try:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps(_execute_request(msg_id, code)))
            out, error = [], None
            while True:
                message = json.loads(ws.recv())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = message["msg_type"], message["content"]
                if kind == "stream":
                    out.append(content["text"])
                elif kind == "error":
                    error = f"{content['ename']}: {content['evalue']}"
                elif kind == "status" and content["execution_state"] == "idle":
                    return {"stdout": "".join(out), "error": error}
        finally:
            ws.close()
            self.api("DELETE", f"/user/{self.name}/api/kernels/{kernel['id']}")


def _execute_request(msg_id: str, code: str) -> dict:
    return {
        "header": {
            "msg_id": msg_id,
            "username": "test",
            "session": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
    }


def as_unix_user(user: pwd.struct_passwd, *command: str) -> subprocess.CompletedProcess:
    """``command`` run as ``user`` (setuid, their own group only), as their server runs."""
    return subprocess.run(
        list(command),
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
