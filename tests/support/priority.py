"""The course's chain first: a higher CPU weight for the processes of the course's workspace during ``make test``.

The notebook chain is ``make test``'s longest path (tests/plugin/session.py); everything else fits beside it.
On a 2-core machine the other workers and the background jobs compete with it for the CPU, and Linux shares
the CPU between *sessions* first (autogroups: ``/proc/sys/kernel/sched_autogroup_enabled``, man 7 sched).
Every kernel, terraform run, emulator and lab process the course starts leads a session of its own, so a
process's ``nice`` cannot favour them; the nice value of their autogroup can (``/proc/PID/autogroup``).

``Favour(workspace)`` runs a thread that gives each session led by a process of that workspace (its
``COURSE_WORKSPACE``) the nice value ``NICE``, within ``EVERY`` seconds of its start. Only root may lower
a nice value: elsewhere (and without /proc, or without autogroups) it does nothing. The session this
process belongs to (pytest's, shared with the other workers) is never changed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

NICE = -10  # the chain's sessions weigh about 10 times a default session (man 7 sched: each step ~1.25x)
EVERY = 0.25  # seconds between two looks at /proc (a terraform run lasts a second or more)
PROC = Path("/proc")


def possible() -> bool:
    """Root, on Linux with autogroups on."""
    try:
        enabled = (PROC / "sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False
    return enabled and os.geteuid() == 0


def session_leader(pid: int) -> bool:
    """``pid`` leads its session (the field after the parent and the process group in /proc/PID/stat)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[3] == str(pid)


def workspace_of(pid: int) -> str | None:
    try:
        environ = (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"COURSE_WORKSPACE="):
            return entry.split(b"=", 1)[1].decode(errors="replace")
    return None


def favour(pid: int, nice: int = NICE) -> bool:
    try:
        (PROC / str(pid) / "autogroup").write_text(str(nice))
    except OSError:  # gone already, or not allowed
        return False
    return True


class Favour:
    """A thread that favours the sessions of ``workspace`` until ``stop()``."""

    def __init__(self, workspace: str):
        self.workspace = workspace
        self.favoured: set[int] = set()
        self._judged: set[int] = set()
        self._young: set[int] = set()  # first seen in the last pass
        self._own_session = os.getsid(0)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="favour-course", daemon=True)

    @classmethod
    def start(cls, workspace: str) -> Favour | None:
        if not possible():
            return None
        favour_ = cls(workspace)
        favour_._thread.start()
        return favour_

    def look(self) -> None:
        """One pass over /proc: the sessions of the workspace that began before the last pass get the nice value.

        (A process is judged one pass after it is first seen: between fork and exec /proc shows its parent's
        environment.)"""
        alive = {int(name) for name in os.listdir(PROC) if name.isdigit()}
        for pid in self._young & alive:
            if pid != self._own_session and session_leader(pid) and workspace_of(pid) == self.workspace:
                if favour(pid):
                    self.favoured.add(pid)
        self._judged = (self._judged | self._young) & alive
        self._young = alive - self._judged

    def _run(self) -> None:
        while not self._stopped.wait(EVERY):
            self.look()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)
