"""The local AWS emulator: a moto server on loopback, one per workspace.

    python -m helpers emulator start|stop|status|reset

It runs as its own process (so it survives kernel restarts) and records its
port and pid in ``<workspace>/emulator.json``; every notebook finds the same
one. ``start`` is idempotent and health-checked. If the preferred port is
busy, a free one is picked and remembered. The server itself is
``helpers/_emulator_server.py`` (moto plus the fidelity fixes in
``helpers/moto_fixes.py``).
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from . import workspace
from .errors import CourseError

HOST = "127.0.0.1"
DEFAULT_PORT = 4850  # not moto's 5000: macOS's AirPlay receiver listens there
STATE = "emulator.json"
LOG = "emulator.log"
HEALTH_PATH = "/_course/health"
START_TIMEOUT = 30.0
LOG_LIMIT = 5 * 1024 * 1024


def _url(port: int) -> str:
    return f"http://{HOST}:{port}"


def health(port: int, timeout: float = 1.0) -> dict | None:
    """The emulator's health answer on ``port``, or None.

    Only our own launcher answers HEALTH_PATH, so another program on the port
    (another moto, LocalStack, a web server) is never mistaken for ours.
    """
    try:
        with urllib.request.urlopen(_url(port) + HEALTH_PATH, timeout=timeout) as resp:
            data = json.loads(resp.read().decode())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if data.get("service") == "course-emulator" else None


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _lock():
    """Serialise start/stop between kernels and terminals of one workspace."""
    with open(workspace.path("emulator.lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def status() -> dict:
    """{"running": bool, "url", "port", "pid", "boot", "workspace"} of this workspace's emulator.

    ``boot`` changes every time the emulator starts (it then holds nothing).
    """
    state = workspace.read_json(STATE)
    port = state.get("port")
    answer = health(port) if port else None
    ours = bool(answer) and answer.get("workspace") == str(workspace.root())
    return {
        "running": ours,
        "url": _url(port) if port else None,
        "port": port,
        "pid": answer.get("pid") if ours else None,
        "boot": answer.get("boot") if ours else None,
        "workspace": workspace.relative(workspace.root()),
    }


def _choose_port(state: dict) -> tuple[int, str]:
    """A port to start on, and a note for the learner when it is not the usual one."""
    requested = os.environ.get("COURSE_EMULATOR_PORT")
    if requested:
        try:
            port = int(requested)
            if not 1 <= port <= 65535:
                raise ValueError
        except ValueError:
            raise CourseError(
                f"COURSE_EMULATOR_PORT={requested!r} is not a port number.",
                "The emulator needs a TCP port between 1024 and 65535.",
                "unset COURSE_EMULATOR_PORT (a free port is then chosen for you) or set it to e.g. 4850.",
            ) from None
        if not port_is_free(port):
            raise CourseError(
                f"The emulator cannot start: port {port} is already in use.",
                f"You asked for port {port} with COURSE_EMULATOR_PORT, and another program is listening there.",
                "unset COURSE_EMULATOR_PORT so a free port is chosen automatically, or pick another port.",
            )
        return port, ""
    preferred = state.get("port") or DEFAULT_PORT
    if port_is_free(preferred):
        return preferred, ""
    port = _free_port()
    return port, (
        f"Port {preferred} is in use by another program, so the emulator uses port {port}; "
        "every notebook of this workspace will find it there."
    )


def start(quiet: bool = False) -> str:
    """Start the emulator if it is not running; return its URL. Idempotent."""
    with _lock():
        current = status()
        if current["running"]:
            return current["url"]
        try:
            missing = importlib.util.find_spec("moto") is None
        except (ImportError, ValueError):
            missing = True
        if missing:
            raise CourseError(
                "The emulator cannot start: the Python package 'moto' is not installed.",
                "The course's AWS emulator is a moto server, and this Python environment has no moto.",
                "run 'make lab' (it installs everything), or: pip install -r requirements.txt",
            )
        state = workspace.read_json(STATE)
        port, note = _choose_port(state)
        log_path = workspace.path(LOG)
        if log_path.exists() and log_path.stat().st_size > LOG_LIMIT:
            os.replace(log_path, log_path.with_suffix(".log.1"))  # keep one old log, not an endless one
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workspace.REPO), env.get("PYTHONPATH")]))
        began = time.monotonic()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "helpers._emulator_server", "--port", str(port),
                 "--workspace", str(workspace.root())],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=str(workspace.REPO), env=env, start_new_session=True,  # outlives the kernel
            )
        while time.monotonic() - began < START_TIMEOUT:
            answer = health(port, timeout=0.5)
            if answer and answer.get("pid") == proc.pid:
                workspace.write_json(STATE, {"port": port, "pid": proc.pid})
                if note and not quiet:
                    print(note)
                return _url(port)
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.kill()
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        if "Address already in use" in tail:
            raise CourseError(
                f"The emulator cannot start: port {port} was taken while it was starting.",
                "Another program grabbed the port between the check and the start.",
                "run the cell again (or: python -m helpers emulator start); a free port will be chosen.",
            )
        raise CourseError(
            "The emulator did not start.",
            f"The moto server exited or did not answer within {START_TIMEOUT:.0f} s.",
            f"read {workspace.relative(log_path)} (last lines below), then: python -m helpers emulator start",
            detail=tail,
        )


def ensure() -> str:
    """The emulator's URL, starting it first if needed (notebooks call this)."""
    current = status()
    return current["url"] if current["running"] else start()


def stop() -> bool:
    """Stop this workspace's emulator. Returns True if one was running."""
    with _lock():
        current = status()
        if not current["running"]:
            with contextlib.suppress(FileNotFoundError):
                workspace.path(STATE).unlink()
            return False
        pid = current["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and health(current["port"], timeout=0.2):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        state = workspace.read_json(STATE)
        state.pop("pid", None)  # keep the port: the next start prefers it
        workspace.write_json(STATE, state)
        return True


def reset() -> None:
    """Delete everything the emulator holds (all accounts, all regions).

    On purpose, so stacks whose state still lists resources are not re-created
    by the next restart's recovery (helpers/recovery.py); applying them again
    by hand does.
    """
    from . import recovery

    url = ensure()
    req = urllib.request.Request(url + "/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10):
        pass
    recovery.forget()
