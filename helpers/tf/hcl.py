"""``%%hcl STACK/FILE.tf``: a notebook cell that writes Terraform code.

    %%hcl 00-hello/main.tf
    resource "aws_security_group" "hello" { ... }

The cell's text is saved as ``stacks/STACK/FILE.tf`` (or ``.tfvars``) in the course workspace,
the folder ``Terraform("STACK")`` works in (helpers/tf/runner.py). The magic itself
is registered by helpers/course/notebook.py; this module writes and merges. The cell shows
the HCL itself, so the lesson reads as HCL, not as Python strings.

    %%hcl course/variables.tf --add

adds the cell's top-level blocks to the file instead: a block with the same
header (``variable "learner"``) is replaced where it stands, new blocks are
appended, other blocks stay. Each notebook adds the variables it needs, and
re-running a cell changes nothing.

A cell whose HCL Terraform cannot parse is not saved: the file keeps its
previous version, the cell's text goes to ``FILE.tf.rejected`` beside it, and
the message names the line. Until the cell is fixed (or that file deleted),
``plan`` and ``apply`` of the stack refuse to run, so an old version of the
file is never applied by mistake.

Exercise notebooks (notebooks/exercises/) leave blanks, ``____``, for the
learner. A cell that still holds one writes nothing: it says which line to
fill in, and the stack stays as it was (such cells are recorded in ``pending``, the
session's ``pending_blanks``, so the exercise's Terraform cells skip instead of
applying half a lesson). ``guard``: a callable the exercise's Setup registers; a
text it returns stops the write.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .. import workspace
from ..errors import CourseError
from .state import stack_dir
from .toolchain import cli_config, executable

RESOURCE = re.compile(r'^\s*(resource|data)\s+"([^"]+)"\s+"([^"]+)"', re.M)
VARIABLE = re.compile(r'^variable\s+"([^"]+)"', re.M)
TARGET = re.compile(r"^([a-z0-9][a-z0-9-]{0,62})/([A-Za-z0-9_.-]+\.(?:tf|tfvars))(\s+--add)?$")
BLANK = re.compile(r"(?<![A-Za-z0-9_])_{4,}(?![A-Za-z0-9_])")


def blank_lines(text: str, first_line: int = 1) -> list[tuple[int, str]]:
    """(line number, line) of every line of ``text`` that still holds a blank ``____``."""
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), first_line) if BLANK.search(line)]


def _cell_key(target: str, text: str) -> str:
    """Identifies a cell across edits: its target and the headers of its blocks."""
    headers = re.findall(r"^(?:resource|data|variable|output|locals)\b[^{\n]*", text, re.M)
    return target.split()[0] + "|" + "|".join(h.strip() for h in headers)


def split_blocks(text: str) -> list[tuple[str, str]]:
    """Top-level blocks of ``terraform fmt``-formatted HCL as (header, text).

    A block starts at a line in column 0 ending with ``{`` and ends at the next
    ``}`` in column 0; comment lines just above a block belong to it.
    """
    blocks, pending, current = [], [], None
    for line in text.rstrip().splitlines():
        if current is None:
            if line.endswith("{") and line[:1] not in ("", " ", "#", "/", "}"):
                current = pending + [line]
                pending = []
            elif line.strip():
                pending.append(line)
            elif pending:  # a comment standing on its own is kept as a block of its own
                blocks.append(("\n".join(pending), "\n".join(pending)))
                pending = []
        else:
            current.append(line)
            if line == "}":
                header = current[_header_index(current)]
                blocks.append((header.rstrip("{ ").strip(), "\n".join(current)))
                current = None
    if current is not None or pending:
        raise CourseError(
            "This HCL does not split into complete top-level blocks.",
            '--add merges whole blocks (variable "x" { ... }), so each must start at the left '
            "margin and end with a lone } there.",
            "check the braces, or run `terraform fmt` on the code first.",
        )
    return blocks


def _header_index(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if not line.startswith(("#", "//")))


def merge_blocks(existing: str, added: str) -> str:
    merged = dict(split_blocks(existing)) if existing.strip() else {}
    for header, block in split_blocks(added):
        merged[header] = block  # dicts keep the first position of a replaced key
    return "\n\n".join(merged.values()) + "\n"


REJECTED = ".rejected"
FMT_ERROR = re.compile(r"^Error: (.+)$", re.M)
FMT_LINE = re.compile(r"on <stdin> line (\d+)")


def syntax_error(text: str) -> tuple[int, str, str] | None:
    """(line, summary, explanation) of the first HCL syntax error in ``text``, or None.

    Asks Terraform itself (``terraform fmt -``: reads only the text, no
    provider, no state), so the verdict is exactly Terraform's.
    """
    env = dict(os.environ, TF_CLI_CONFIG_FILE=str(cli_config()), CHECKPOINT_DISABLE="1")
    proc = subprocess.run(
        [str(executable()), "fmt", "-no-color", "-"], input=text, capture_output=True, text=True, env=env, timeout=120
    )
    if proc.returncode == 0:
        return None
    summary = FMT_ERROR.search(proc.stderr)
    line = FMT_LINE.search(proc.stderr)
    explanation = ""
    if summary:  # the paragraph after the source excerpt explains the error
        rest = proc.stderr[summary.end() :].split("\n\n")
        explanation = " ".join(rest[2].split()) if len(rest) > 2 else ""
    return (
        int(line.group(1)) if line else 0,
        summary.group(1).strip() if summary else "invalid HCL",
        explanation or "Terraform cannot parse this HCL.",
    )


def rejected_cells(folder: Path) -> list[Path]:
    """Files whose last %%hcl cell was refused (see the module docstring)."""
    return sorted(Path(folder).glob("*" + REJECTED))


def write_hcl(target: str, text: str, folder: Path | None = None, *, guard=None, pending: dict | None = None) -> str:
    """Save ``text`` as the Terraform file ``target`` ("stack/file.tf" [--add]); return a one-line report.

    ``folder`` overrides the stack's folder (tests rebuild terraform/ with it).
    """
    match = TARGET.match(target.strip())
    if not match:
        raise CourseError(
            f"%%hcl needs a target like 00-hello/main.tf, not {target.strip()!r}.",
            "The first line names the stack (a folder: lower-case letters, digits, dashes) "
            "and the .tf file to write in it, optionally followed by --add.",
            "write the first line of the cell as: %%hcl 00-hello/main.tf",
        )
    stack, filename, add = match.groups()
    key = _cell_key(target.strip(), text)
    blanks = blank_lines(text, first_line=2)  # line 1 of the cell is the %%hcl line
    if blanks:
        where = ", ".join(str(n) for n, _ in blanks)
        if pending is not None:
            pending[key] = f"{stack}/{filename} (cell line {where})"
        first = blanks[0]
        return (
            f"✗ Not saved: fill in the blank{'s' if len(blanks) > 1 else ''} (____) on line {where} of "
            f"this cell first, e.g. line {first[0]}: {first[1]}\n"
            f"  {stack}/{filename} was left as it was; run this cell again once every ____ is replaced."
        )
    if pending is not None:
        pending.pop(key, None)
    reason = guard() if guard and folder is None else None
    if reason:
        return f"✗ Not saved: {reason}\n  {stack}/{filename} was left as it was."
    path = (Path(folder) if folder else stack_dir(stack)) / filename
    cell = text.rstrip() + "\n"
    rejected = path.with_name(path.name + REJECTED)
    unchanged = path.exists() and cell.rstrip() in path.read_text()  # a re-run: checked when first written
    error = None if unchanged else syntax_error(cell)
    if error:
        line, summary, explanation = error
        rejected.write_text(cell)
        kept = (
            f"{workspace.relative(path)} keeps its previous version"
            if path.exists()
            else f"{workspace.relative(path)} was not created"
        )
        raise CourseError(
            f"{filename}, line {line} of the HCL: {summary}. The cell was not saved.",
            f"{explanation} {kept}; plan and apply of stack {stack} wait until this cell is fixed.",
            f"correct line {line} (counting from the line after %%hcl) and run the cell again. "
            f"Your text is kept in {workspace.relative(rejected)}.",
        )
    text = merge_blocks(path.read_text() if path.exists() else "", cell) if add else cell
    path.write_text(text)
    rejected.unlink(missing_ok=True)
    blocks = [
        f"{kind} {rtype}.{name}" if kind == "data" else f"{rtype}.{name}"
        for kind, rtype, name in RESOURCE.findall(cell)
    ]
    blocks += [f"var.{name}" for name in VARIABLE.findall(cell)]
    what = ", ".join(blocks) if blocks else "no resources"
    verb = "Updated" if add else "Saved"
    return f"{verb} {workspace.relative(path)} ({what})"
