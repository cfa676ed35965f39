"""The course's chain first: a higher CPU weight for the processes of the course's workspace during ``make test``.

The notebook chain is ``make test``'s longest path (tests/plugin/session.py); everything else fits beside it.
On a 2-core machine the other workers and the background jobs compete with it for the CPU, and Linux shares
the CPU between *sessions* first (autogroups: ``/proc/sys/kernel/sched_autogroup_enabled``, man 7 sched).
Every kernel, terraform run and emulator the course starts, and the traffic lab's supervisor (with its ECS
agents and load balancer nodes), lead a session of their own, so a process's ``nice`` cannot favour them; the nice value of their
autogroup can (``/proc/PID/autogroup``). (The lab's tasks, nginx and Node.js, get the task definition's
environment, not the workspace's: they keep the default weight, and serve only the health checks and requests.)

``Favour(workspace)`` runs a thread that gives each session led by a process of that workspace (its
``COURSE_WORKSPACE``) the nice value ``NICE``, one or two passes (``EVERY``) after the session began. Lowering
a nice value needs CAP_SYS_NICE (root): elsewhere, and without /proc or autogroups, it does nothing; where
the kernel refuses the first write, the thread stops. The session this process belongs to (pytest's, shared with
the other workers) is never changed. Nothing outlives the sessions: an autogroup goes with its last process.
(Where the tests run in a CPU cgroup of their own, the scheduler ignores autogroups, and this changes nothing.)
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

NICE = -10  # the chain's sessions weigh about 10 times a default session (man 7 sched: each step ~1.25x)
EVERY = 0.25  # seconds between two looks at /proc (a terraform run lasts a second or more)
TRIES = 8  # passes a session leader whose environment reads empty is looked at again (mid-exec), then judged
PROC = Path("/proc")
CAP_SYS_NICE = 23  # linux/capability.h
FAVOURED, AGAIN, REFUSED, GONE = "favoured", "again", "refused", "gone"  # favour()'s answers


def possible() -> bool:
    """Linux with autogroups on, and this process may lower a nice value (CAP_SYS_NICE: root, outside a
    container that drops it)."""
    try:
        enabled = (PROC / "sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
        status = (PROC / "self/status").read_text()
    except OSError:
        return False
    effective = next((line.split()[1] for line in status.splitlines() if line.startswith("CapEff:")), "0")
    return enabled and bool(int(effective, 16) >> CAP_SYS_NICE & 1)


def session_leader(pid: int) -> bool:
    """``pid`` leads its session (the field after the parent and the process group in /proc/PID/stat)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[3] == str(pid)


def workspace_of(pid: int) -> str | None:
    """The process's ``COURSE_WORKSPACE``, as a real path (the lab's supervisor gets the resolved one); "" while
    its environment reads empty (the moment an exec replaces it: /proc shows the new one a little later)."""
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    if not environ:
        return ""
    for entry in environ.split(b"\0"):
        if entry.startswith(b"COURSE_WORKSPACE="):
            return os.path.realpath(entry.split(b"=", 1)[1].decode(errors="replace"))
    return None


def favour(pid: int, nice: int = NICE) -> str:
    """Give ``pid``'s autogroup ``nice``: FAVOURED; AGAIN (the kernel takes one write per 100 ms from a process
    without CAP_SYS_ADMIN: try on the next pass); REFUSED (not allowed here); GONE."""
    try:
        (PROC / str(pid) / "autogroup").write_text(str(nice))
    except OSError as error:
        if error.errno == errno.EAGAIN:
            return AGAIN
        if error.errno in (errno.EPERM, errno.EACCES):
            return REFUSED
        return GONE
    return FAVOURED


class Favour:
    """A thread that favours the sessions of ``workspace`` until ``stop()``."""

    def __init__(self, workspace: str):
        self.workspace = os.path.realpath(workspace)
        self.favoured: set[int] = set()
        self._judged: set[int] = set()
        self._young: set[int] = set()  # first seen in the last pass
        self._tries: dict[int, int] = {}  # passes a session leader's environment read empty (mid-exec)
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
        """One pass over /proc: the sessions of the workspace first seen in the last pass get the nice value.

        (A process is judged one pass after it is first seen: between fork and exec /proc shows its parent's
        environment, and for a moment during the exec an empty one, which is looked at again, up to TRIES passes.)"""
        alive = {int(name) for name in os.listdir(PROC) if name.isdigit()}
        retry = set()
        for pid in self._young & alive:
            if pid == self._own_session or not session_leader(pid):
                continue
            workspace = workspace_of(pid)
            if workspace == "" and self._tries.get(pid, 0) < TRIES:  # mid-exec: look again next pass
                self._tries[pid] = self._tries.get(pid, 0) + 1
                retry.add(pid)
            elif workspace == self.workspace:
                answer = favour(pid)
                if answer == FAVOURED:
                    self.favoured.add(pid)
                elif answer == AGAIN:
                    retry.add(pid)
                elif answer == REFUSED:
                    self._stopped.set()  # not allowed here after all: nothing to do
        self._judged = (self._judged | self._young - retry) & alive
        self._tries = {pid: n for pid, n in self._tries.items() if pid in retry}
        self.favoured &= alive
        self._young = alive - self._judged

    def _run(self) -> None:
        while not self._stopped.wait(EVERY):
            self.look()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)
