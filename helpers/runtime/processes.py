"""Whether a process still runs, for the records that name one (the emulator's, the lab supervisor's, the lab
sandbox's keeper) and for the waits that stop one."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int | None) -> bool:
    """``pid`` runs, and is not a zombie (a process that ended and that its parent has not reaped yet)."""
    try:
        pid = int(pid or 0)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it runs
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc to ask (not Linux): os.kill found it
