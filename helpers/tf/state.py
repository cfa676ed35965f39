"""A stack's folder and Terraform state: reading it, and a copy before every risky command.

    stack_dir("course")                  <workspace>/stacks/course (created)
    resources("course")                  {address: attributes} from its terraform.tfstate

    <workspace>/backups/<stack>/2026-11-26T16-40-12.345678-before-apply.tfstate

``before(stack, command)`` runs before ``apply``, ``destroy`` and the other
commands that change a state (helpers/tf/runner.py and ``python -m helpers
terraform`` call it). It keeps the last ``KEEP`` copies per stack (an
unchanged state is not copied twice) and refuses to let the command run when
the copy cannot be written, or when the state file is damaged: in both cases
nothing has changed yet, and the message names the way back.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from .. import workspace
from ..errors import CourseError

KEEP = 5
STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
STATE = "terraform.tfstate"
# Terraform commands that write a state (plan, validate, output ... only read it).
RISKY = {"apply", "destroy", "import", "refresh", "state", "taint", "untaint", "force-unlock"}


def folder(stack: str) -> Path:
    """Where the stack's backups go (not created)."""
    return workspace.root() / "backups" / stack


def existing(stack: str) -> list[Path]:
    """The stack's backups, oldest first (names sort by time)."""
    try:
        return sorted(folder(stack).glob("*.tfstate"))
    except OSError:
        return []


def restore_hint(stack: str, state: Path) -> str:
    """The command that puts the newest usable copy back in place of ``state``."""
    candidates = [p for p in reversed(existing(stack)) if _readable(p)]
    terraform_copy = state.with_name(state.name + ".backup")  # Terraform's own, from its previous write
    if not candidates and _readable(terraform_copy):
        candidates = [terraform_copy]
    if not candidates:
        return (
            f"no backup of stack {stack} exists: move {workspace.relative(state)} aside "
            "and apply again (Terraform then recreates what the stack describes)."
        )
    return f"cp {workspace.relative(candidates[0])} {workspace.relative(state)}   (the newest good copy), then re-run the cell."


def _readable(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_text()), dict)
    except (OSError, ValueError):
        return False


def damaged(stack: str, state: Path, error: Exception) -> CourseError:
    return CourseError(
        f"The Terraform state of stack {stack} cannot be read: {workspace.relative(state)} is damaged.",
        f"It is not valid JSON ({error}); something other than Terraform changed it. Nothing was run.",
        restore_hint(stack, state),
    )


def check(stack: str, state: Path) -> dict | None:
    """The parsed state, None if there is none; a CourseError if it is damaged."""
    try:
        text = state.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError as error:
        raise damaged(stack, state, error) from None
    return data


def before(stack: str, command: str, stack_folder: Path) -> Path | None:
    """Back up ``stack_folder``'s state before ``command``; return the copy (None: nothing to copy)."""
    state = Path(stack_folder) / STATE
    if check(stack, state) is None:
        return None
    target = folder(stack)
    kept = existing(stack)
    if kept and kept[-1].read_bytes() == state.read_bytes():
        return kept[-1]  # unchanged since the last copy
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S.%f")
    copy = target / f"{stamp}-before-{command}.tfstate"
    try:
        target.mkdir(parents=True, exist_ok=True)
        tmp = copy.with_suffix(".partial")
        shutil.copyfile(state, tmp)
        tmp.replace(copy)  # a half-written copy never looks like a backup
    except OSError as error:
        raise CourseError(
            f"terraform {command} did not run: the state of stack {stack} could not be backed up.",
            f"Writing {workspace.relative(copy)} failed ({error.strerror or error}); the course copies the "
            "state before every change so that it can always be restored. Nothing was changed.",
            f"make room on the disk or make {workspace.relative(target)} a writable folder, then re-run the cell.",
        ) from None
    for old in existing(stack)[:-KEEP]:
        old.unlink(missing_ok=True)
    return copy


def stack_dir(stack: str) -> Path:
    """The working folder of a stack in the workspace (``stacks/<stack>``)."""
    if not isinstance(stack, str) or not STACK_NAME.match(stack):
        raise CourseError(
            f"{stack!r} is not a valid stack name.",
            "A stack name becomes a folder name: lower-case letters, digits and dashes, "
            "starting with a letter or digit, at most 63 characters.",
            'use a name like "00-hello" or "alb".',
        )
    folder = workspace.path("stacks", stack)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def resources(stack: str, path: Path | None = None) -> dict[str, dict]:
    """{address: attributes} from a state file (no Terraform run, no AWS call).

    ``path`` defaults to the stack's ``terraform.tfstate``. Resources with
    ``count``/``for_each`` appear as ``type.name[0]`` / ``type.name["key"]``.
    """
    path = path or stack_dir(stack) / STATE
    state = check(stack, path) or {}  # a damaged file: a message naming the backup to restore
    found = {}
    for resource in state.get("resources", []):
        if resource.get("mode") != "managed" or resource.get("module"):
            continue
        base = f"{resource['type']}.{resource['name']}"
        for instance in resource.get("instances", []):
            key = instance.get("index_key")
            found[base if key is None else f"{base}[{json.dumps(key)}]"] = instance.get("attributes", {})
    return found


def resource_count(folder: Path) -> int:
    """Resource instances in the state in ``folder`` (0 for none, or a damaged state)."""
    try:
        state = check(Path(folder).name, Path(folder) / STATE) or {}
    except CourseError:
        return 0
    return sum(len(r.get("instances", [])) for r in state.get("resources", []) if r.get("mode") == "managed")
