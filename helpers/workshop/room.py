"""The workshop room: one emulator for a whole room of learners, one account per learner.

    python -m helpers emulator serve [--host 0.0.0.0] [--port 4850]   instructor: one for the room
    python -m helpers emulator credentials ana ben ...                instructor: a credential per learner
    python -m helpers emulator use http://HOST:PORT --key K --secret S  learner: the room's
    python -m helpers emulator use local                              learner: back to your own

The instructor *serves* this workspace's emulator on the network and hands each
learner a credential: an AWS-style key pair that opens an account of their own
on the room emulator (helpers/runtime/room_gate.py checks every request's
signature). A learner's credentials cannot see, change or delete another
learner's resources, and no unsigned request is served. Each learner *uses* the
room (``COURSE_EMULATOR_URL`` with ``COURSE_ROOM_KEY``/``COURSE_ROOM_SECRET``, or
``use URL --key --secret`` saved in the workspace), after which
helpers/runtime/emulator.py returns the room's URL instead of starting an
emulator of its own. The instructor's credential may look into every account:
the facilitator's view shows every learner.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import socket
import time
import urllib.error
import urllib.request

from .. import workspace
from ..errors import CourseError
from ..runtime import cloud, emulator, learner
from ..runtime.emulator_routes import ROOM_WHOAMI
from ..runtime.room_gate import INSTRUCTOR

CAPACITY = 60  # learners per room: one emulator process serves them all
HOURS = 12  # how long a credential is valid by default (a workshop day)
FIRST_ACCOUNT = 100000000001  # learner accounts: 100000000001, 100000000002, ...


def use(url: str, key: str | None = None, secret: str | None = None) -> str:
    """Point this workspace at a room emulator (``local``: back to its own); return a report."""
    config = workspace.read_json("config.json")
    if url.strip().lower() in ("local", "own", "none", ""):
        for name in ("emulator_url", "room_key", "room_secret"):
            config.pop(name, None)
        workspace.write_json("config.json", config)
        note = (
            f" ({emulator.ROOM_ENV} is set in your environment and still wins: unset it.)"
            if os.environ.get(emulator.ROOM_ENV)
            else ""
        )
        return "This workspace uses its own emulator on this machine again." + note
    url = url.strip().rstrip("/")
    if not emulator.ROOM_URL.match(url):
        raise CourseError(
            f"{url!r} is not an emulator address.",
            "The room emulator is named by its URL, as the instructor's serve command prints it.",
            "python -m helpers emulator use http://192.168.1.20:4850   (the instructor's address)",
        )
    answer = emulator.health_at(url, timeout=3)
    if answer is None:
        raise emulator.room_down(url, joining=True)
    key = key or os.environ.get(emulator.KEY_ENV)
    secret = secret or os.environ.get(emulator.SECRET_ENV)
    if answer.get("accounts") == "per learner":
        if not (key and secret):
            raise CourseError(
                f"The room's emulator at {url} needs your room credential.",
                "Every learner has an account of their own there, opened by the key pair the instructor hands out.",
                f"python -m helpers emulator use {url} --key KEY --secret SECRET   (ask your instructor for yours)",
            )
        who = whoami(url, key, secret)
        saved = os.environ.get(learner.ENV) or config.get("learner")
        if saved and saved != who["learner"]:
            raise CourseError(
                f"This credential is {who['learner']}'s, but this workspace is learner {saved}'s.",
                "A room credential opens one learner's account; this workspace's resources are named for another.",
                f"use your own credential, or make this workspace {who['learner']}'s: "
                f"python -m helpers learner {who['learner']}",
            )
        config.update(room_key=key, room_secret=secret, learner=who["learner"])
    config["emulator_url"] = url
    workspace.write_json("config.json", config)
    if answer.get("accounts") == "per learner":
        return (
            f"This workspace now uses the room's emulator at {url}, as learner {config['learner']}, "
            "in an account of your own: nobody else in the room can see or change your resources."
        )
    return (
        f"This workspace now uses the room's emulator at {url}, shared with the other learners: "
        "give yourself a learner name (python -m helpers learner NAME) before you apply anything."
    )


def whoami(url: str, key: str, secret: str) -> dict:
    """{learner, account} of a room credential, asked of the room itself; a clear message if it refuses it."""
    previous = (os.environ.get(emulator.KEY_ENV), os.environ.get(emulator.SECRET_ENV))
    request = urllib.request.Request(url + ROOM_WHOAMI)
    os.environ[emulator.KEY_ENV], os.environ[emulator.SECRET_ENV] = key, secret
    saved_url = os.environ.get(emulator.ROOM_ENV)
    os.environ[emulator.ROOM_ENV] = url
    try:
        request.headers.update(emulator.signed_headers("GET", url + ROOM_WHOAMI, b""))
        with urllib.request.urlopen(request, timeout=5) as reply:
            return json.loads(reply.read().decode())
    except urllib.error.HTTPError as refused:
        text = refused.read().decode(errors="replace")
        message = text.split("<Message>")[-1].split("</Message>")[0] if "<Message>" in text else text
        raise CourseError(
            f"The room refused this credential: {message}",
            "The room serves only the credentials its instructor issued, while they are valid.",
            "check the key and secret you were given (copy the whole line), or ask your instructor for a new one",
        ) from None
    except OSError:
        raise emulator.room_down(url, joining=True) from None
    finally:
        for name, value in zip(
            (emulator.KEY_ENV, emulator.SECRET_ENV, emulator.ROOM_ENV), (*previous, saved_url), strict=True
        ):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --------------------------------------------------------------------------
# Room mode, instructor side: credentials
# --------------------------------------------------------------------------


def _new_credential(name: str, account: str, hours: float) -> dict:
    return {
        "access_key": "AKIAROOM" + secrets.token_hex(6).upper(),
        "secret_key": secrets.token_urlsafe(30),
        "account": account,
        "expires": time.time() + hours * 3600,
    }


def use_line(url: str, given: dict) -> str:
    """The command a learner pastes to join the room with ``given``, a credential from ``issue``.

    Each value is joined to its option with ``=`` and quoted for the shell: a secret that begins with ``-``
    (about one in 64 do) is then still read as the option's value, not as another option.
    """
    key, secret = shlex.quote(given["access_key"]), shlex.quote(given["secret_key"])
    return f"python -m helpers emulator use {shlex.quote(url)} --key={key} --secret={secret}"


def issue(names: list[str], hours: float = HOURS) -> list[tuple[str, dict]]:
    """Give each of ``names`` a credential and an account of their own (again: a new one); return them."""
    if not workspace.read_json(emulator.STATE).get("room"):
        raise CourseError(
            "This workspace serves no room, so it has no credentials to give.",
            "Credentials open accounts on the emulator that this workspace serves to a room.",
            "python -m helpers emulator serve   (then: python -m helpers emulator credentials ana ben ...)",
        )
    roster = workspace.read_json(emulator.ROOM_CREDENTIALS) or {"learners": {}}
    given = []
    for name in names:
        learner.check(name)
        entries = roster["learners"]
        if name not in entries and sum(n != INSTRUCTOR for n in entries) >= CAPACITY:
            raise CourseError(
                f"The room is full: it has {CAPACITY} learners already, so {name} gets no credential.",
                "One emulator process serves the whole room; beyond this many learners it slows everyone down.",
                "serve a second room from another workspace (python -m helpers emulator serve --port 4851)",
            )
        taken = {e["account"] for e in entries.values()}
        account = (
            entries[name]["account"]
            if name in entries
            else next(str(n) for n in range(FIRST_ACCOUNT, FIRST_ACCOUNT + 10 * CAPACITY) if str(n) not in taken)
        )
        entries[name] = _new_credential(name, account, hours)
        given.append((name, entries[name]))
    _save(roster)
    return given


def _save(roster: dict) -> None:
    workspace.write_json(emulator.ROOM_CREDENTIALS, roster)
    os.chmod(workspace.path(emulator.ROOM_CREDENTIALS), 0o600)  # secrets: the instructor's eyes only


def _ensure_instructor() -> None:
    roster = workspace.read_json(emulator.ROOM_CREDENTIALS) or {"learners": {}}
    if INSTRUCTOR not in roster["learners"]:
        roster["learners"][INSTRUCTOR] = _new_credential(INSTRUCTOR, cloud.EMULATOR_ACCOUNT, 24 * 365)
        _save(roster)


# --------------------------------------------------------------------------
# Room mode, instructor side
# --------------------------------------------------------------------------


def lan_address() -> str:
    """This machine's address on its default network (no packet is sent), or 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            return s.getsockname()[0]
        except OSError:
            return emulator.HOST


def serve(host: str = "0.0.0.0", port: int | None = None) -> str:
    """Start this workspace's emulator for a whole room, listening on ``host``; return the URL learners use."""
    if emulator.room_url():
        raise CourseError(
            "This workspace uses a room emulator already; it cannot serve one too.",
            "Serving is for the instructor's workspace, which runs the emulator itself.",
            "python -m helpers emulator use local   (then serve again)",
        )
    current = emulator.own_status()
    if current["running"] and not current["serving"]:
        raise CourseError(
            "This workspace's emulator is already running for this machine only (on loopback).",
            "A running emulator cannot be moved to another network address; it must be started for the room.",
            "python -m helpers emulator stop, then serve again (its resources are lost: it keeps them in memory)",
        )
    _ensure_instructor()
    emulator.launch(host, port, room=True, quiet=True)
    return room_address()


def room_address() -> str | None:
    """The URL learners use for the emulator this workspace serves (None: it serves none)."""
    state = workspace.read_json(emulator.STATE)
    if not state.get("room") or not state.get("port"):
        return None
    host = state.get("host", emulator.HOST)
    return f"http://{lan_address() if host in ('0.0.0.0', '::') else host}:{state['port']}"
