"""The workshop room: one emulator for a whole room of learners.

    python -m helpers emulator serve [--host 0.0.0.0] [--port 4850]   instructor: one for the room
    python -m helpers emulator use http://HOST:PORT | local          learner: the room's, or your own

The instructor *serves* this workspace's emulator on the network; each learner
*uses* it (``COURSE_EMULATOR_URL``, or ``use URL`` saved in the workspace), after
which helpers/runtime/emulator.py returns the room's URL instead of starting an
emulator of its own. The emulator has no authentication: serve it only on a
network you trust.
"""

from __future__ import annotations

import os
import socket

from .. import workspace
from ..errors import CourseError
from ..runtime import emulator


def use(url: str) -> str:
    """Point this workspace at a room emulator (``local``: back to its own); return a report."""
    config = workspace.read_json("config.json")
    if url.strip().lower() in ("local", "own", "none", ""):
        config.pop("emulator_url", None)
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
    if emulator.health_at(url, timeout=3) is None:
        raise emulator.room_down(url, joining=True)
    config["emulator_url"] = url
    workspace.write_json("config.json", config)
    return (
        f"This workspace now uses the room's emulator at {url}, shared with the other learners: "
        "give yourself a learner name (python -m helpers learner NAME) before you apply anything."
    )


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
    emulator.launch(host, port, room=True, quiet=True)
    return room_address()


def room_address() -> str | None:
    """The URL learners use for the emulator this workspace serves (None: it serves none)."""
    state = workspace.read_json(emulator.STATE)
    if not state.get("room") or not state.get("port"):
        return None
    host = state.get("host", emulator.HOST)
    return f"http://{lan_address() if host in ('0.0.0.0', '::') else host}:{state['port']}"
