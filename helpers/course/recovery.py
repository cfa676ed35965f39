"""When the emulator stopped: restart it and re-apply, so states and emulator agree again.

The emulator (moto) keeps everything in memory: if its process dies (killed,
laptop restarted, ``python -m helpers emulator stop``) it comes back empty,
while the Terraform states in the workspace still list what was created.
Each emulator start has a new *boot id* (its health answer says it), and
every stack records the boot id it was last changed against, in
``stacks/<stack>/.emulator-boot.json``. Where the course meets the emulator
(``course.start``, every ``Terraform`` command, ``aws.client``), the course session
(helpers/course/session.py) calls ``ensure()`` through ``Session.recover()``, which
keeps a re-apply from recursing into itself; never call ``ensure()`` directly. It starts the emulator if needed and re-applies each stack
whose state lists resources but whose boot id is not the current one, then
prints one line saying so.

Not re-applied: by the terminal commands (``python -m helpers env`` is eval'd
by a shell, and its output must stay exports), stacks emptied by a destroy, stacks the learner deliberately
emptied with ``python -m helpers emulator reset`` (``forget()``), and
everything on the aws target (there is no emulator to restart) or when
``AWS_ENDPOINT_URL`` names an emulator the course does not manage.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .. import workspace
from ..errors import CourseError
from ..runtime import emulator
from ..tf import state
from ..tf.runner import Terraform
from ..tf.state import resource_count

RECORD = ".emulator-boot.json"


def _stacks() -> list[Path]:
    root = workspace.path("stacks")
    return sorted(p for p in root.iterdir() if (p / RECORD).exists()) if root.is_dir() else []


def _read(folder: Path) -> dict:
    try:
        return json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return {}


def record(folder: Path, boot: str | None, **extra) -> None:
    """Note that the stack in ``folder`` is being changed against emulator boot ``boot``.

    (While re-applying, the session records nothing itself: ``_reapply`` records each
    stack once its re-apply succeeded.)
    """
    if not boot:
        return
    path = Path(folder) / RECORD
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"boot": boot, **extra}) + "\n")
    tmp.replace(path)


def _lock():
    """One recovery at a time per workspace (two notebooks may notice at once)."""
    return workspace.lock("recovery.lock")


def _stale(boot: str) -> list[tuple[Path, int]]:
    found = []
    for folder in _stacks():
        mark = _read(folder)
        if mark.get("boot") == boot or mark.get("reset"):
            continue
        count = resource_count(folder) or mark.get("recreate", 0)  # emptied for a re-apply that failed
        if count:
            found.append((folder, count))
        else:
            record(folder, boot)  # empty: nothing was lost
    return found


def ensure(skip: str | None = None, quiet: bool = False, reapply: bool = True) -> dict:
    """The running emulator's status; stacks applied against an earlier boot are re-applied first.

    ``skip``: a stack whose own next command converges it anyway (a destroy,
    or an apply that refreshes); it is named in the line printed, not re-applied.
    ``reapply``: False starts a stopped emulator but re-applies nothing (terminal commands).
    The caller (the course session) makes sure this never runs inside a re-apply of its own.
    """
    status = emulator.status()
    if not status["running"]:
        emulator.start(quiet=quiet)
        status = emulator.status()
    boot = status.get("boot")
    if not reapply or not boot or not _stale(boot):
        return status
    with _lock():
        stale = _stale(boot)  # again: another kernel may have done it meanwhile
        if stale:
            _reapply(stale, boot, skip)
    return status


def _start_over(folder: Path, count: int) -> None:
    """The emulator came back empty, so everything the stack's state lists is gone: keep the state in the
    backups and empty it, so that the apply creates everything again instead of refreshing what no longer
    exists (provider 3.39 fails to refresh some, e.g. ``aws_default_security_group`` of a vanished VPC).
    Until a re-apply succeeds, the record keeps the old boot and says the stack is still to be re-created."""
    if not (folder / state.STATE).exists():
        return
    state.before(folder.name, "recovery", folder)
    mark = _read(folder)
    record(folder, mark.get("boot") or "before-recovery", recreate=count)
    (folder / state.STATE).unlink()


def _reapply(stale: list[tuple[Path, int]], boot: str, skip: str | None) -> None:
    began = time.monotonic()
    done, left = [], []
    for folder, count in stale:
        _start_over(folder, count)
        if folder.name == skip:
            left.append(folder.name)
            continue
        try:
            Terraform(folder.name).apply(skip_plan=True)
        except CourseError as error:
            raise CourseError(
                f"The emulator had stopped and came back empty; re-applying stack {folder.name} failed: "
                f"{error.what.removeprefix('✗ ')}",
                error.why,
                f"{error.fix} The course retries the re-apply at the next cell.",
                detail=error.detail,
            ) from None
        record(folder, boot)
        done.append(f"{folder.name} ({count} resource{'s' if count != 1 else ''})")
    parts = []
    if done:
        parts.append(
            f"re-applied stack{'s' if len(done) > 1 else ''} {', '.join(done)} in {time.monotonic() - began:.0f} s"
        )
    if left:
        parts.append(f"stack {', '.join(left)} is re-created by this command")
    print(f"The emulator had stopped (its data went with it): restarted it, {'; '.join(parts)}.")


def forget() -> None:
    """After a deliberate reset: stacks that still list resources are left alone by later restarts."""
    boot = emulator.status().get("boot")
    for folder in _stacks():
        if resource_count(folder):
            record(folder, boot, reset=True)
