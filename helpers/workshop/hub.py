"""The workshop hub: one JupyterHub on one Linux host, a server, a room credential and a lab per learner.

    python -m helpers hub start [--host 127.0.0.1] [--port 8000] [--password PW] [--cull-after 3600] [--learners N]
    python -m helpers hub status
    python -m helpers hub release NAME
    python -m helpers hub stop [--remove-learners]

The hub runs as root in this (the instructor's) workspace, which also serves the room emulator on loopback
(helpers/workshop/room.py). Learners log in with the workshop's password and a name of their choice
(JupyterHub's SharedPasswordAuthenticator, JupyterHub 5.3+:
https://jupyterhub.readthedocs.io/en/stable/reference/api/authenticators.html). What each learner's server
gets is the spawner's job (helpers/workshop/hub_spawner.py); this module checks the host, writes
``jupyterhub_config.py`` (the one place the hub's settings come from) and starts or stops the hub.
Its files live in ``<workspace>/hub/``: the config (mode 600: it holds the password), the database,
the cookie secret, ``hub.json`` (pid, URL) and ``hub.log``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .. import workspace
from ..errors import CourseError
from ..runtime import emulator, processes
from . import hub_python, hub_users, room

HUB_DIR = "hub"  # <workspace>/hub/
STATE = "hub.json"
HOST, PORT = "127.0.0.1", 8000
CULL_AFTER = 3600  # seconds without activity before the culler stops a learner's server
CULL_EVERY = 300  # seconds between the culler's checks at most (its default: half the timeout)
MEMORY = "3G"  # per learner: server, kernel, lab (nginx, node tasks, ALB nodes), Terraform (make bench: hub)
CPUS = 1.0  # per learner, at most this many cores (cgroups' CPU quota)
START_TIMEOUT = 60.0  # seconds for the hub (and its proxy) to answer
STOP_TIMEOUT = 30.0  # seconds for the hub to stop its learners' servers and its proxy
PASSWORD_MIN = 8  # SharedPasswordAuthenticator refuses a shorter user_password
NPM_INSTALL = "make hubtools   (it installs configurable-http-proxy from npm into .venv/hub-proxy/)"


def folder() -> Path:
    return workspace.path(HUB_DIR)


def proxy_command() -> str | None:
    """configurable-http-proxy: under the environment (make hubtools: HUB_PROXY_DIR), else on PATH; None: missing."""
    local = Path(sys.prefix) / "hub-proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
    return str(local) if local.exists() else shutil.which("configurable-http-proxy")


def require_root(action: str) -> None:
    """The instructor's commands on a running hub read its folder, which is root's alone: one message otherwise."""
    if os.geteuid() != 0:
        raise CourseError(
            f"hub {action} needs root.",
            f"The hub's folder ({workspace.relative(folder())}, mode 700) holds the password, the learners' keys "
            "and their record: only root reads it.",
            f"sudo .venv/bin/python -m helpers hub {action} ...",
        )


def check_host(host: str, port: int, password: str) -> str:
    """The proxy's path when this host can run the hub here; else one CourseError per cause."""
    if not sys.platform.startswith("linux"):
        raise CourseError(
            f"The workshop hub needs Linux; this is {sys.platform}.",
            "Each learner gets a Unix user and a lab in network namespaces of their own: Linux features.",
            "run the hub on a Linux VM (Debian 12 works), or give learners the dev container (.devcontainer/)",
        )
    if os.geteuid() != 0:
        raise CourseError(
            "The workshop hub needs root.",
            "It creates a Unix user per learner and starts each learner's server as that user.",
            "sudo make hub   (or: sudo .venv/bin/python -m helpers hub start)",
        )
    if len(password) < PASSWORD_MIN:
        raise CourseError(
            f"The workshop password has {len(password)} characters; it needs at least {PASSWORD_MIN}.",
            "JupyterHub's shared-password authenticator refuses shorter ones: anyone with it can log in.",
            "python -m helpers hub start --password 'four words you can say'",
        )
    for program in ("useradd", "userdel", "unshare"):
        if not shutil.which(program):
            raise CourseError(
                f"'{program}' is missing: the hub makes a Unix user per learner with it.",
                "It comes with the system's user tools (passwd, util-linux).",
                "apt-get install passwd util-linux",  # useradd, userdel: passwd; unshare: util-linux
            )
    if not learners_get_user_namespaces():
        raise CourseError(
            "An ordinary user cannot create user namespaces on this host, so no learner's lab can run.",
            "Each learner's lab runs rootless, in a user namespace of its own (helpers/lab/net/sandbox.py).",
            "Ubuntu 24.04: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (notebooks/INSTRUCTOR.md, "
            "Workshop hub); elsewhere: sysctl -w user.max_user_namespaces=15000",
        )
    proxy = proxy_command()
    if proxy is None:
        raise CourseError(
            "The hub's proxy, configurable-http-proxy, is missing.",
            "JupyterHub routes every learner's browser through it; it is a Node.js program from npm.",
            NPM_INSTALL,
        )
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as taken:
            raise CourseError(
                f"The hub cannot listen on {host}:{port}: {taken.strerror}.",
                "Another program uses that port, or the address is not this machine's.",
                f"python -m helpers hub start --port {port + 1}   (or stop what listens there: ss -ltnp)",
            ) from None
    return proxy


def learners_get_user_namespaces() -> bool:
    """True when an ordinary user (nobody) may create a user + network namespace here."""
    try:
        done = subprocess.run(["unshare", "-Urn", "true"], capture_output=True, timeout=10, **hub_python.NOBODY)
        return done.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_text(settings: dict) -> str:
    """jupyterhub_config.py for ``settings`` (start() makes them): the hub's one set of settings."""
    s = settings
    culler = [
        sys.executable,
        "-m",
        "jupyterhub_idle_culler",
        f"--timeout={s['cull_after']}",
        f"--cull-every={s['cull_every']}",
    ]
    lines = [
        "# Written by python -m helpers hub start (helpers/workshop/hub.py): change the hub there, not here.",
        "from helpers.workshop import hub_spawner",
        "",
        f"c.JupyterHub.ip = {s['host']!r}",
        f"c.JupyterHub.port = {s['port']}",
        "c.JupyterHub.hub_ip = '127.0.0.1'",
        f"c.JupyterHub.hub_port = {s['hub_port']}",
        f"c.ConfigurableHTTPProxy.command = [{s['proxy']!r}]",
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{s['proxy_api_port']}'",
        f"c.JupyterHub.db_url = {'sqlite:///' + s['folder'] + '/jupyterhub.sqlite'!r}",
        f"c.JupyterHub.cookie_secret_file = {s['folder'] + '/jupyterhub_cookie_secret'!r}",
        "c.JupyterHub.authenticator_class = hub_spawner.LearnerAuthenticator",
        f"c.SharedPasswordAuthenticator.user_password = {s['password']!r}",
        "c.Authenticator.allow_all = True  # any name that is a learner name (the authenticator checks it)",
        f"c.LearnerAuthenticator.seats = {s['seats']}",
        "c.JupyterHub.spawner_class = hub_spawner.LearnerSpawner",
        f"c.Spawner.cmd = [{s['python']!r}, '-m', 'jupyterhub.singleuser']",
        "c.Spawner.default_url = '/lab'",
        f"c.Spawner.mem_limit = {s['memory']!r}",
        f"c.Spawner.cpu_limit = {s['cpus']}",
        "c.Spawner.start_timeout = 60",
        "c.Spawner.http_timeout = 60",
        # https://github.com/jupyterhub/jupyterhub-idle-culler#as-a-hub-managed-service
        "c.JupyterHub.services = [{'name': 'idle-culler', 'command': " + repr(culler) + "}]",
        "c.JupyterHub.load_roles = [{'name': 'idle-culler', 'services': ['idle-culler'], 'scopes': "
        "['list:users', 'read:users:activity', 'read:servers', 'delete:servers']}]",
    ]
    return "\n".join(lines) + "\n"


def _password(given: str | None) -> str:
    saved = folder() / "password"
    if given:
        saved.write_text(given)
    elif not saved.exists():
        saved.write_text(secrets.token_urlsafe(9))  # 12 characters, said aloud or written on the board
    os.chmod(saved, 0o600)
    return saved.read_text().strip()


def status() -> dict:
    """The running hub's record ({pid, url, ...}), or {} when none runs for this workspace."""
    record = workspace.read_json(f"{HUB_DIR}/{STATE}")
    return record if record and processes.alive(record.get("pid")) else {}


def start(
    host: str = HOST,
    port: int = PORT,
    password: str | None = None,
    cull_after: int = CULL_AFTER,
    cull_every: int = CULL_EVERY,
    memory: str = MEMORY,
    cpus: float = CPUS,
    seats: int = room.CAPACITY,
) -> dict:
    """Start the hub (and the room emulator it hands credentials from); its record with the password."""
    if running := status():
        raise CourseError(
            f"A hub runs already for this workspace at {running['url']} (pid {running['pid']}).",
            "One workspace holds one hub: its database, its learners and its room.",
            "python -m helpers hub stop   (then start again)",
        )
    folder().mkdir(parents=True, exist_ok=True)
    os.chmod(folder(), 0o700)
    password = _password(password)
    proxy = check_host(host, port, password)
    python = hub_python.learner_python()
    started_room = not room.room_address()
    url = room.room_address() or room.serve(host="127.0.0.1")
    public = f"http://{host}:{port}"
    record = {"url": public, "room": url, "started_room": started_room, "host": host, "port": port}
    workspace.write_json(f"{HUB_DIR}/{STATE}", record)  # stop() then stops the room it started, whatever fails
    settings = dict(
        host=host,
        port=port,
        hub_port=_free_port(),
        proxy_api_port=_free_port(),
        proxy=proxy,
        folder=str(folder()),
        password=password,
        cull_after=int(cull_after),
        cull_every=int(cull_every),
        memory=memory,
        cpus=float(cpus),
        seats=min(int(seats), room.CAPACITY),
        python=python,
    )
    try:
        config = folder() / "jupyterhub_config.py"
        config.write_text(config_text(settings))
        os.chmod(config, 0o600)
        env = dict(os.environ, COURSE_WORKSPACE=str(workspace.root()), PATH=_venv_path())
        with (folder() / "hub.log").open("ab") as log:
            hub = subprocess.Popen(
                [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(config)],
                cwd=folder(),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        record["pid"] = hub.pid
        workspace.write_json(f"{HUB_DIR}/{STATE}", record)
        _wait_until_up(hub, public)
    except BaseException:
        stop()
        raise
    return {**record, "password": password}


def _venv_path() -> str:
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")])


def _wait_until_up(hub: subprocess.Popen, public: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise CourseError(
                f"The hub stopped at start (exit code {hub.returncode}).",
                "JupyterHub or its proxy refused to run; its log says why.",
                f"read {folder() / 'hub.log'}, fix what it names, then: python -m helpers hub start",
                detail=_log_tail(),
            )
        try:
            with urllib.request.urlopen(public + "/hub/api", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise CourseError(
        f"The hub did not answer at {public} within {START_TIMEOUT:.0f} s.",
        "JupyterHub starts its proxy and database first; on this host one of them hung.",
        f"read {folder() / 'hub.log'}, then: python -m helpers hub start",
        detail=_log_tail(),
    )


def _log_tail(lines: int = 15) -> str:
    try:
        return "\n".join((folder() / "hub.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop(remove_learners: bool = False) -> list[str]:
    """Stop the hub (it stops every learner's server and its proxy), and the room it started; with
    ``remove_learners`` also delete the learners' Unix users and homes. The names of the users removed."""
    record = workspace.read_json(f"{HUB_DIR}/{STATE}")
    pid = record.get("pid")
    if pid and processes.alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while processes.alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if processes.alive(pid):
            os.killpg(pid, signal.SIGKILL)
    if record.get("started_room"):
        emulator.stop()
    workspace.path(HUB_DIR, STATE).unlink(missing_ok=True)
    return hub_users.remove_all() if remove_learners else []


def describe() -> str:
    """hub status's report."""
    record = status()
    if not record:
        return "No hub runs for this workspace. Start one: sudo make hub"
    learners = ", ".join(sorted(u["learner"] for u in hub_users.known())) or "none yet"
    return f"Hub running at {record['url']} (pid {record['pid']}), room emulator {record['room']}; learners: {learners}"
