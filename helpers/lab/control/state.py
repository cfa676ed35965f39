"""The lab's files in ``<workspace>/lab/``: the supervisor's status, its record, its log, its sync socket.

The supervisor (supervisor.py) writes them; the commands (commands.py) read them, from another process.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from ... import workspace
from ...runtime import lab_machine

LAB_DIR = lab_machine.LAB_DIR
STATUS = "status.json"  # what the supervisor built, could not build, runs; rewritten on every change
LOG = "supervisor.log"
LOCK = "supervisor.lock"  # held by the running supervisor for its whole life
SYNC_SOCKET = "sync.sock"  # the supervisor answers there once its kernel has the emulator's writes up to a seq


def path(name: str) -> Path:
    folder = workspace.path(LAB_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def read(name: str) -> dict:
    try:
        return json.loads(path(name).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def write(name: str, data: dict) -> None:
    target = path(name)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, target)


def log_tail(lines: int = 12) -> str:
    try:
        return "\n".join(path(LOG).read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


@contextlib.contextmanager
def socket_address(name: str):
    """The path of ``name`` in the lab folder as a Unix socket may be bound to or connected to: through a
    descriptor of the folder (``/proc/self/fd/N/name``), since a socket's path may have at most 107 bytes and a
    workspace's may be longer."""
    folder = os.open(path(name).parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{name}"
    finally:
        os.close(folder)
