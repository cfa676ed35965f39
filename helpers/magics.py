"""``%%hcl STACK/FILE.tf``: a notebook cell that writes Terraform code.

    %%hcl 00-hello/main.tf
    resource "aws_security_group" "hello" { ... }

The cell's text is saved as ``stacks/STACK/FILE.tf`` in the course workspace,
the folder ``helpers.terraform.Terraform("STACK")`` works in. The cell shows
the HCL itself, so the lesson reads as HCL, not as Python strings.
"""
from __future__ import annotations

import re

from . import workspace
from .errors import CourseError

RESOURCE = re.compile(r'^\s*(resource|data)\s+"([^"]+)"\s+"([^"]+)"', re.M)
TARGET = re.compile(r"^([a-z0-9][a-z0-9-]{0,62})/([A-Za-z0-9_.-]+\.tf)$")


def write_hcl(target: str, text: str) -> str:
    """Save ``text`` as the Terraform file ``target`` ("stack/file.tf"); return a one-line report."""
    from .terraform import stack_dir

    match = TARGET.match(target.strip())
    if not match:
        raise CourseError(
            f"%%hcl needs a target like 00-hello/main.tf, not {target.strip()!r}.",
            "The first line names the stack (a folder: lower-case letters, digits, dashes) "
            "and the .tf file to write in it.",
            "write the first line of the cell as: %%hcl 00-hello/main.tf",
        )
    stack, filename = match.groups()
    path = stack_dir(stack) / filename
    text = text.rstrip() + "\n"
    path.write_text(text)
    blocks = [f"{kind} {rtype}.{name}" if kind == "data" else f"{rtype}.{name}"
              for kind, rtype, name in RESOURCE.findall(text)]
    what = ", ".join(blocks) if blocks else "no resources"
    return f"Saved {workspace.relative(path)} ({what})"


def register(ip) -> None:
    def hcl(line, cell):
        print(write_hcl(line, cell))

    hcl.__doc__ = __doc__
    ip.register_magic_function(hcl, magic_kind="cell", magic_name="hcl")
