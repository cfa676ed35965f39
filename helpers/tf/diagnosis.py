"""Terraform's failure as one message a learner can act on (what, why, the fix)."""

from __future__ import annotations

import json
import re
import subprocess

from .. import workspace
from ..errors import KNOWN_ERRORS, CourseError
from .result import TerraformResult
from .state import stack_dir
from .toolchain import environment, executable


def _panic_excerpt(text: str, lines: int = 8) -> str:
    """The first lines of a Go panic (what crashed, and where), not the whole trace."""
    start = text.find("panic:")
    if start < 0:
        return text[-2000:]
    return "\n".join(text[start:].splitlines()[:lines])


def _configuration_is_invalid(stack: str) -> bool:
    """True when ``terraform validate`` rejects the stack's files (no AWS call is made)."""
    proc = subprocess.run(
        [str(executable()), "validate", "-json", "-no-color"],
        cwd=stack_dir(stack),
        capture_output=True,
        text=True,
        env=environment(),
        timeout=120,
    )
    try:
        return not json.loads(proc.stdout).get("valid", False)
    except ValueError:
        return proc.returncode != 0


AWS_CODE = re.compile(r"\b(InvalidGroup\.NotFound|InvalidGroupId\.Malformed|InvalidPermission\.Malformed)\b")


def explain_failure(stack: str, command: str, result: TerraformResult, stderr: str) -> CourseError:
    """Turn Terraform's error into one message a learner can act on."""
    errors = [d for d in result.diagnostics if d.get("severity") == "error"]
    first = errors[0] if errors else {}
    summary = first.get("summary", "").strip()
    detail = first.get("detail", "").strip()
    raw = stderr.strip() or "\n".join(f"{d.get('summary')}: {d.get('detail')}" for d in errors)
    where = first.get("range") or {}
    folder = workspace.relative(stack_dir(stack))
    if "state lock" in summary.lower() or "state lock" in raw.lower():
        lock_id = re.search(r"ID:\s+(\S+)", detail or raw)
        unlock = (
            f"python -m helpers terraform {stack} force-unlock -force {lock_id.group(1)}"
            if lock_id
            else f"python -m helpers terraform {stack} force-unlock -force LOCK_ID"
        )
        return CourseError(
            f"terraform {command} did not run: the state of stack {stack} is locked.",
            "Another Terraform run (another notebook, a terminal, or one that was killed) holds the lock; "
            "only one run may change a state at a time. Nothing was changed.",
            f"wait for the other run to finish, then re-run this cell. If no other run exists any more: {unlock}",
            detail=detail,
        )
    # A var file's value (a cell's var=..., terraform.tfvars) is no configuration: validate never reads one.
    in_configuration = where.get("filename") and not where["filename"].endswith((".tfvars", ".tfvars.json"))
    if in_configuration and _configuration_is_invalid(stack):
        line = where.get("start", {}).get("line")
        return CourseError(
            f"terraform {command} stopped: {where['filename']} line {line}: {summary}",
            detail or "Terraform could not read the configuration.",
            f"correct line {line} of {where['filename']} (the cell that writes {folder}/{where['filename']}) "
            "and run it again, then re-run this cell. Nothing was changed.",
        )
    if "plugin did not respond" in summary.lower() or "panic:" in raw:
        return CourseError(
            f"terraform {command} failed for stack {stack}: the AWS provider crashed.",
            "The provider plugin stopped with an internal error (with the emulator this usually means "
            "moto answered differently from AWS; helpers/runtime/moto_fixes.py corrects the known cases).",
            "re-run this cell once; if it crashes again, run 'python -m helpers doctor' and report "
            "the provider's message below with the notebook and cell.",
            detail=_panic_excerpt(raw),
        )
    code = AWS_CODE.search(f"{summary} {detail}")
    code = code.group(1) if code else "InvalidGroup.NotFound" if "No security group with ID" in summary else None
    if code:
        why, fix = KNOWN_ERRORS[code]
        place = f"{where['filename']} line {where.get('start', {}).get('line')}" if where.get("filename") else folder
        return CourseError(
            f"terraform {command} stopped for stack {stack} at {place}: AWS refused it "
            f"({summary.splitlines()[0].split(': ', 1)[-1].strip()})",
            why,
            f"{fix} Resources created before the error are in the state; the next run continues from there.",
        )
    if summary == "Saved plan is stale":
        return CourseError(
            f"terraform {command} did not run: the saved plan is out of date.",
            "A saved plan can be applied once, and only while nothing has changed since it was made; "
            "this one was applied already, or another run changed the state since. Nothing was changed.",
            "re-run the plan cell above (it saves a fresh plan), then this cell.",
        )
    if summary in ("Invalid value for variable", "Invalid value for input variable", "Resource precondition failed"):
        checked = "A validation rule" if summary.startswith("Invalid") else "A precondition"
        return CourseError(
            f"terraform {command} stopped for stack {stack}: {summary.lower()}.",
            detail.split("\n\nThis was checked by")[0] or "A variable's value breaks its rule.",
            f"{checked} rejected the value before anything changed. Change the value as the message "
            "says (in the cell's var=..., or in terraform.tfvars in the stack folder), then re-run this cell.",
        )
    if summary:
        return CourseError(
            f"terraform {command} failed for stack {stack}: {summary}",
            detail or "See Terraform's message above.",
            "fix the cause, then re-run this cell: Terraform keeps the state of what it already did, "
            "so the next run continues from there.",
        )
    return CourseError(
        f"terraform {command} failed for stack {stack} (exit code {result.code}).",
        "Terraform printed no structured error; its own output is below.",
        "read the output below, fix the cause and re-run this cell.",
        detail=raw[-3000:],
    )
