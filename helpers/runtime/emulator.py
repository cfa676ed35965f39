"""The local AWS emulator: a moto server on loopback, one per workspace.

    python -m helpers emulator start|stop|status|reset

It runs as its own process (so it survives kernel restarts) and records its
port and pid in ``<workspace>/emulator.json``; every notebook finds the same
one. ``start`` is idempotent and health-checked. If the preferred port is
busy, a free one is picked and remembered. The server itself is
``helpers/runtime/emulator_server.py`` (moto plus the fidelity fixes in
``helpers/runtime/moto_fixes.py``).

Workshop (room) mode (helpers/workshop/room.py): the instructor *serves* one
emulator on the network; each learner *uses* it (``COURSE_EMULATOR_URL``, or
``emulator use URL`` saved in the workspace). Then ``ensure()``/``start()`` here
return the room's URL and never start an emulator of their own, and ``reset()``
refuses: it would delete every learner's resources.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .. import workspace
from ..errors import CourseError
from . import cloud, emulator_routes, processes

HOST = "127.0.0.1"
DEFAULT_PORT = 4850  # not moto's 5000: macOS's AirPlay receiver listens there
STATE = "emulator.json"
LOG = "emulator.log"
START_TIMEOUT = 30.0
BUSY_TIMEOUT = 15.0  # how long a running emulator that does not answer at once gets, before it counts as gone
RESET_TIMEOUT = 60.0  # a reset rebuilds every loaded backend: about a second of CPU, far more on a busy machine
LOG_LIMIT = 5 * 1024 * 1024
ROOM_ENV = "COURSE_EMULATOR_URL"
# A served room gives every learner a credential (key pair) and an account of their own
# (helpers/runtime/room_gate.py checks them; helpers/workshop/room.py hands them out).
ROOM_CREDENTIALS = "room-credentials.json"  # in the instructor's workspace (mode 600)
KEY_ENV, SECRET_ENV = "COURSE_ROOM_KEY", "COURSE_ROOM_SECRET"
# Callables run after a deliberate reset; the course session registers recovery's forget().
RESET_HOOKS: list = []
ROOM_URL = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def _url(port: int, host: str = HOST) -> str:
    # A server bound to every interface is reached locally through loopback.
    return f"http://{HOST if host in ('0.0.0.0', '::', '') else host}:{port}"


def health_at(url: str, timeout: float = 1.0) -> dict | None:
    """The health answer of the course emulator at ``url``, or None.

    Only our own launcher answers emulator_routes.HEALTH, so another program on the port
    (another moto, LocalStack, a web server) is never mistaken for ours.
    """
    try:
        with urllib.request.urlopen(url + emulator_routes.HEALTH, timeout=timeout) as resp:
            data = json.loads(resp.read().decode())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) and data.get("service") == "course-emulator" else None


def health(port: int, timeout: float = 1.0, host: str = HOST) -> dict | None:
    """The emulator's health answer on ``port`` of this machine, or None."""
    return health_at(_url(port, host), timeout)


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------
# Room mode, learner side: the instructor's emulator instead of one's own
# --------------------------------------------------------------------------


def room_url() -> str | None:
    """The room emulator this workspace uses (COURSE_EMULATOR_URL, else ``emulator use``), or None."""
    value = os.environ.get(ROOM_ENV) or workspace.read_json("config.json").get("emulator_url")
    if not value:
        return None
    value = value.strip().rstrip("/")
    if not ROOM_URL.match(value):
        raise CourseError(
            f"{value!r} is not an emulator address.",
            "A room emulator is named by its URL: http://HOST:PORT, as the instructor's serve command prints it.",
            f"set {ROOM_ENV} (or run: python -m helpers emulator use http://HOST:PORT) with the address the "
            "instructor gave, or go back to your own emulator: python -m helpers emulator use local",
        )
    return value


def in_room() -> bool:
    return room_url() is not None


def credentials() -> tuple[str, str]:
    """The key pair this workspace signs its emulator requests with.

    A learner in a room: the credential the instructor handed out (COURSE_ROOM_KEY/COURSE_ROOM_SECRET,
    else ``emulator use URL --key --secret``). The workspace serving a room: the instructor's own.
    Otherwise the emulator takes any key: the obviously fake ``testing``.
    """
    if room_url():
        config = workspace.read_json("config.json")
        key = os.environ.get(KEY_ENV) or config.get("room_key")
        secret = os.environ.get(SECRET_ENV) or config.get("room_secret")
        if not (key and secret):
            raise CourseError(
                f"This workspace uses the room's emulator at {room_url()} without a room credential.",
                "The room serves only requests signed with a credential the instructor handed out: "
                "each learner has one, and an account of their own.",
                f"python -m helpers emulator use {room_url()} --key KEY --secret SECRET   "
                "(the line the instructor gave you)",
            )
        return key, secret
    if workspace.read_json(STATE).get("room"):
        instructor = room_roster().get("instructor")
        if instructor:
            return instructor["access_key"], instructor["secret_key"]
    return cloud.DUMMY_KEY, cloud.DUMMY_KEY


def room_roster() -> dict[str, dict]:
    """{learner: {access_key, secret_key, account, expires}} of the room this workspace serves ({} if none)."""
    return workspace.read_json(ROOM_CREDENTIALS).get("learners", {})


def room_accounts() -> dict[str, str]:
    """{learner: account} of the room this workspace serves, the instructor's own account included."""
    if not workspace.read_json(STATE).get("room"):
        return {}
    return {name: entry["account"] for name, entry in room_roster().items()}


def room_down(url: str, joining: bool = False) -> CourseError:
    source = f"{ROOM_ENV}" if os.environ.get(ROOM_ENV) else "'python -m helpers emulator use'"
    using = (
        "You asked to use the instructor's shared emulator"
        if joining
        else f"This workspace uses the instructor's shared emulator ({source})"
    )
    return CourseError(
        f"The room's emulator at {url} does not answer.",
        f"{using}, and nothing answers there "
        "as the course emulator: it is stopped, the address is wrong, or the network is in between.",
        "ask the instructor to check it (python -m helpers emulator status on their machine), or work on "
        "your own emulator: python -m helpers emulator use local",
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _lock():
    """Serialise start/stop between kernels and terminals of one workspace."""
    return workspace.lock("emulator.lock")


def status() -> dict:
    """{"running", "url", "port", "pid", "boot", "workspace", "room", "serving"} of this workspace's emulator.

    ``boot`` changes every time the emulator starts (it then holds nothing);
    ``room``: the URL of the room emulator this workspace uses instead of its own (else None);
    ``serving``: this workspace's own emulator is served to a room (``serve``).
    """
    room = room_url()
    if room:
        answer = health_at(room)
        return {
            "running": bool(answer),
            "url": room,
            "port": None,
            "pid": None,
            "boot": None,
            "workspace": workspace.relative(workspace.root()),
            "room": room,
            "serving": False,
        }
    return own_status()


def own_status() -> dict:
    """status() of the emulator process this workspace runs itself (room mode or not)."""
    state = workspace.read_json(STATE)
    port = state.get("port")
    host = state.get("host", HOST)
    answer = health(port, host=host) if port else None
    if answer is None and port and processes.alive(state.get("pid")):
        # Its process runs: busy (a slow machine, a reset), not gone. Wait for it rather than start another one.
        answer = health(port, timeout=BUSY_TIMEOUT, host=host)
    ours = bool(answer) and answer.get("workspace") == str(workspace.root())
    return {
        "running": ours,
        "url": _url(port, host) if port else None,
        "port": port,
        "pid": answer.get("pid") if ours else None,
        "boot": answer.get("boot") if ours else None,
        "workspace": workspace.relative(workspace.root()),
        "room": None,
        "serving": ours and bool(state.get("room")),
    }


def _choose_port(state: dict, host: str = HOST) -> tuple[int, str]:
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
        if not port_is_free(port, host):
            raise CourseError(
                f"The emulator cannot start: port {port} is already in use.",
                f"You asked for port {port} with COURSE_EMULATOR_PORT, and another program is listening there.",
                "unset COURSE_EMULATOR_PORT so a free port is chosen automatically, or pick another port.",
            )
        return port, ""
    preferred = state.get("port") or DEFAULT_PORT
    if port_is_free(preferred, host):
        return preferred, ""
    port = _free_port()
    return port, (
        f"Port {preferred} is in use by another program, so the emulator uses port {port}; "
        "every notebook of this workspace will find it there."
    )


def start(quiet: bool = False) -> str:
    """Start the emulator if it is not running; return its URL. Idempotent.

    In a room (``use``), nothing is started: the room's URL is returned once it answers.
    """
    room = room_url()
    if room:
        if health_at(room, timeout=5) is None:
            raise room_down(room)
        return room
    return launch(HOST, None, room=False, quiet=quiet)


def _spawn(host: str, port: int, room: bool, log_path, env: dict):
    """Start the server on ``port``; (its URL, process) once it answers, else (None, process), killed."""
    began = time.monotonic()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "helpers.runtime.emulator_server",
                "--port",
                str(port),
                "--host",
                host,
                "--workspace",
                str(workspace.root()),
                *(["--room-credentials", str(workspace.path(ROOM_CREDENTIALS))] if room else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(workspace.REPO),
            env=env,
            start_new_session=True,  # outlives the kernel
        )
    while time.monotonic() - began < START_TIMEOUT:
        answer = health(port, timeout=0.5, host=host)
        if answer and answer.get("pid") == proc.pid:
            saved = {"port": port, "pid": proc.pid}
            if room:
                saved.update(host=host, room=True)
            workspace.write_json(STATE, saved)
            return _url(port, host), proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    return None, proc


def launch(host: str, port: int | None, room: bool, quiet: bool = False) -> str:
    with _lock():
        current = own_status()
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
        # Chosen here (not asked for): if another process takes it while the server starts (two
        # test workers starting at once, say), a different free port is tried before giving up.
        retries = 2 if port is None and not os.environ.get("COURSE_EMULATOR_PORT") else 0
        if port is None:
            port, note = _choose_port(state, host)
        elif not port_is_free(port, host):
            raise CourseError(
                f"The emulator cannot be served on port {port}: it is already in use.",
                "Another program listens on that port.",
                "pick another one: python -m helpers emulator serve --port 4851",
            )
        else:
            note = ""
        log_path = workspace.path(LOG)
        if log_path.exists() and log_path.stat().st_size > LOG_LIMIT:
            os.replace(log_path, log_path.with_suffix(".log.1"))  # keep one old log, not an endless one
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workspace.REPO), env.get("PYTHONPATH")]))
        while True:
            url, proc = _spawn(host, port, room, log_path, env)
            if url:
                if note and not quiet:
                    print(note)
                return url
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            if "Address already in use" in tail and retries:
                retries -= 1
                port = _free_port()
                continue
            break
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


def signed_headers(method: str, url: str, body: bytes) -> dict[str, str]:
    """Headers that sign a plain HTTP request to the emulator with this workspace's credential."""
    from botocore.auth import SigV4Auth  # heavy: botocore, only for a signed plain request
    from botocore.awsrequest import AWSRequest  # heavy: as above
    from botocore.credentials import Credentials  # heavy: as above

    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials(*credentials()), "moto", cloud.region()).add_auth(request)
    return dict(request.headers.items())


def ensure() -> str:
    """The emulator's URL, starting it first if needed (notebooks call this)."""
    current = status()
    return current["url"] if current["running"] else start()


def _is_our_server(pid: int | None) -> bool:
    """``pid`` runs this workspace's emulator server (its command line says so: Linux; elsewhere False)."""
    if not processes.alive(pid):
        return False
    try:
        argv = Path(f"/proc/{int(pid)}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return False
    return b"helpers.runtime.emulator_server" in argv and str(workspace.root()).encode() in argv


def stop() -> bool:
    """Stop this workspace's own emulator (never a room's). Returns True if one was running."""
    with _lock():
        current = own_status()
        if not current["running"]:
            hung = workspace.read_json(STATE).get("pid")
            killed = _is_our_server(hung)  # it runs, but did not answer even within BUSY_TIMEOUT: hung
            if killed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(hung, signal.SIGKILL)
            with contextlib.suppress(FileNotFoundError):
                workspace.path(STATE).unlink()
            return killed
        pid = current["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and health_at(current["url"], timeout=0.2):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        state = workspace.read_json(STATE)
        for key in ("pid", "host", "room"):  # keep the port: the next start prefers it
            state.pop(key, None)
        workspace.write_json(STATE, state)
        return True


def reset(everyone: bool = False) -> None:
    """Delete everything the emulator holds (all accounts, all regions).

    Refused in a room (a learner's workspace) and, unless ``everyone``, on the emulator served to one.
    On purpose, so stacks whose state still lists resources are not re-created
    by the next restart's recovery (RESET_HOOKS: helpers/course/recovery.py's forget());
    applying them again by hand does.
    """
    room = room_url()
    if room:
        raise CourseError(
            f"The room's emulator at {room} cannot be reset from a learner's workspace.",
            "It is shared by everyone in the room: a reset would delete every learner's resources, not only yours.",
            "delete only your own: destroy your stack (notebook 10, or course.reset() in a notebook). "
            "The instructor can reset the whole room: python -m helpers emulator reset --everyone",
        )
    if own_status()["serving"] and not everyone:
        raise CourseError(
            "This emulator is served to a room: a reset would delete every learner's resources.",
            "'python -m helpers emulator serve' shared it with the learners, who may still be working.",
            "when the whole room is done: python -m helpers emulator reset --everyone",
        )
    url = ensure()
    req = urllib.request.Request(url + "/moto-api/reset", method="POST", data=b"")
    if own_status()["serving"]:  # the room's door lets only the instructor reset it
        req.headers.update(signed_headers("POST", url + "/moto-api/reset", b""))
    try:
        with urllib.request.urlopen(req, timeout=RESET_TIMEOUT):
            pass
    except (OSError, urllib.error.URLError) as error:  # a timeout, or the emulator went away meanwhile
        raise CourseError(
            f"The emulator did not confirm the reset within {RESET_TIMEOUT:.0f} s.",
            f"It did not answer in time ({error}): it is busy (a slow or loaded machine) or it stopped.",
            "run the reset again: python -m helpers emulator reset. If the emulator no longer answers at all, "
            "stop it first (python -m helpers emulator stop): the reset then starts a fresh one.",
        ) from None
    for hook in RESET_HOOKS:
        hook()
