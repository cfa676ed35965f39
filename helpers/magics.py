"""``%%hcl STACK/FILE.tf``: a notebook cell that writes Terraform code.

    %%hcl 00-hello/main.tf
    resource "aws_security_group" "hello" { ... }

The cell's text is saved as ``stacks/STACK/FILE.tf`` (or ``.tfvars``) in the course workspace,
the folder ``helpers.terraform.Terraform("STACK")`` works in. The cell shows
the HCL itself, so the lesson reads as HCL, not as Python strings.

    %%hcl course/variables.tf --add

adds the cell's top-level blocks to the file instead: a block with the same
header (``variable "learner"``) is replaced where it stands, new blocks are
appended, other blocks stay. Each notebook adds the variables it needs, and
re-running a cell changes nothing.
"""
from __future__ import annotations

import re
from pathlib import Path

from . import workspace
from .errors import CourseError

RESOURCE = re.compile(r'^\s*(resource|data)\s+"([^"]+)"\s+"([^"]+)"', re.M)
VARIABLE = re.compile(r'^variable\s+"([^"]+)"', re.M)
TARGET = re.compile(r"^([a-z0-9][a-z0-9-]{0,62})/([A-Za-z0-9_.-]+\.(?:tf|tfvars))(\s+--add)?$")


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
            "--add merges whole blocks (variable \"x\" { ... }), so each must start at the left "
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


def write_hcl(target: str, text: str, folder: Path | None = None) -> str:
    """Save ``text`` as the Terraform file ``target`` ("stack/file.tf" [--add]); return a one-line report.

    ``folder`` overrides the stack's folder (tests rebuild terraform/ with it).
    """
    from .terraform import stack_dir

    match = TARGET.match(target.strip())
    if not match:
        raise CourseError(
            f"%%hcl needs a target like 00-hello/main.tf, not {target.strip()!r}.",
            "The first line names the stack (a folder: lower-case letters, digits, dashes) "
            "and the .tf file to write in it, optionally followed by --add.",
            "write the first line of the cell as: %%hcl 00-hello/main.tf",
        )
    stack, filename, add = match.groups()
    path = (Path(folder) if folder else stack_dir(stack)) / filename
    cell = text.rstrip() + "\n"
    text = merge_blocks(path.read_text() if path.exists() else "", cell) if add else cell
    path.write_text(text)
    blocks = [f"{kind} {rtype}.{name}" if kind == "data" else f"{rtype}.{name}"
              for kind, rtype, name in RESOURCE.findall(cell)]
    blocks += [f"var.{name}" for name in VARIABLE.findall(cell)]
    what = ", ".join(blocks) if blocks else "no resources"
    verb = "Updated" if add else "Saved"
    return f"{verb} {workspace.relative(path)} ({what})"


def register(ip) -> None:
    def hcl(line, cell):
        print(write_hcl(line, cell))

    hcl.__doc__ = __doc__
    ip.register_magic_function(hcl, magic_kind="cell", magic_name="hcl")
