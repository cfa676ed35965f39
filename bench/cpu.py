"""The CPU seconds a command and every process it starts use: the floor under its wall time on this machine.

A command whose processes use C CPU seconds cannot end in less than C / cores seconds, whatever its scheduler:
`make test`'s figure says how far its budget is reachable by running the same work differently, and how far only
by doing less work. The command joins a cpuacct cgroup of its own (cgroup v1, as on this machine kind; on
cgroup v2 its cpu.stat); its children inherit it, daemons they start included. Where neither is writable (not
root, no cgroup), the figure is None and the bench says "not measured".
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

V1 = Path("/sys/fs/cgroup/cpuacct")
V2 = Path("/sys/fs/cgroup")


class CpuAccount:
    """``with CpuAccount() as account: subprocess.run(cmd, preexec_fn=account.join)``; then ``account.seconds``."""

    def __init__(self) -> None:
        name = f"course-bench-{uuid.uuid4().hex[:8]}"
        self.folder: Path | None = None
        self.seconds: float | None = None
        for root, usage in ((V1, "cpuacct.usage"), (V2, "cpu.stat")):
            if (root / usage).exists() and os.access(root, os.W_OK):
                self.folder, self._usage = root / name, usage
                break

    def __enter__(self) -> CpuAccount:
        if self.folder is not None:
            try:
                self.folder.mkdir()
            except OSError:
                self.folder = None
        return self

    def join(self) -> None:
        """In the child, before its exec (``preexec_fn``): the command and its descendants are counted."""
        if self.folder is not None:
            (self.folder / "cgroup.procs").write_text(str(os.getpid()))

    def read(self) -> float | None:
        if self.folder is None:
            return None
        text = (self.folder / self._usage).read_text()
        if self._usage == "cpuacct.usage":
            return int(text) / 1e9
        fields = dict(line.split() for line in text.splitlines())
        return int(fields["usage_usec"]) / 1e6

    def __exit__(self, *exc) -> None:
        self.seconds = self.read()
        if self.folder is not None:
            # groups made inside it (bench/cpubymodule.py's), deepest first; a daemon the command left running
            # keeps its group, and so this one: they stay
            for inner in sorted(self.folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if inner.is_dir():
                    with contextlib.suppress(OSError):
                        inner.rmdir()
            with contextlib.suppress(OSError):
                self.folder.rmdir()


def floor_text(seconds: float | None, cores: int) -> str:
    if seconds is None:
        return "CPU not measured (no writable cgroup: run as root)"
    return f"CPU {seconds:.0f} s on {cores} cores: no scheduler ends it under {seconds / cores:.0f} s here"
