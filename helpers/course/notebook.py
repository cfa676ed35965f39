"""The course inside IPython: the ``%%hcl`` magic, the blank skipper and short error messages.

Installed once per kernel by the notebook facade (``helpers/__init__.py``):

- ``%%hcl STACK/FILE.tf [--add]`` writes the cell's HCL into the stack (helpers/tf/hcl.py),
  asking the session's exercise guard first and recording cells whose blanks are not filled in;
- a Python cell that still holds a blank ``____`` prints which line instead of failing;
- a ``CourseError``, or AWS's refusal of a boto3 call, shows as its three lines, not a traceback;
- a ``SkipCell`` (``lab.needed(...)`` where the lab cannot run) stops the cell with its one line: no traceback,
  and the cell counts as run, so "Run All", nbval and nbclient go on.
"""

from __future__ import annotations

from ..errors import CourseError, SkipCell, explain
from ..tf import hcl
from . import session


def skip_python_with_blanks(lines: list[str]) -> list[str]:
    """IPython input transformer: a Python cell that still holds a blank prints which line, instead of failing.

    Cell magics (``%%hcl``) are left alone: they handle their own blanks.
    """
    if not lines or lines[0].startswith("%%"):
        return lines
    blanks = hcl.blank_lines("".join(lines))
    if not blanks:
        return lines
    where = ", ".join(str(n) for n, _ in blanks)
    message = (
        f"✗ Not run: fill in the blank{'s' if len(blanks) > 1 else ''} (____) on line {where} of this cell "
        f"first, e.g. line {blanks[0][0]}: {blanks[0][1]}\n  Nothing was run; run the cell again once every ____ is replaced."
    )
    return [f"print({message!r})\n"]


def write_cell(line: str, cell: str, folder=None) -> str:
    """What ``%%hcl`` does with a cell: write it, with the session's guard and record of blanks.

    ``folder`` replaces the stack's folder (tests rebuild terraform/ with it; the guard is not asked).
    """
    current = session.current()
    return hcl.write_hcl(line, cell, folder, guard=current.hcl_guard, pending=current.pending_blanks)


def pending_blanks() -> list[str]:
    """Exercise cells run in this kernel whose blanks are not filled in yet ("alb.tf (cell line 12)")."""
    return list(session.current().pending_blanks.values())


def install_error_handler(ip) -> None:
    """Show CourseError, and AWS's refusals of boto3 calls, in notebooks as short messages, not tracebacks;
    a SkipCell as its one line, the cell counting as run."""
    if getattr(ip, "_course_error_handler", False):
        return
    from botocore.exceptions import ClientError  # heavy: only inside a kernel

    def _handler(shell, etype, value, tb, tb_offset=None):
        if isinstance(value, SkipCell):  # not an error: one line on stdout, as the cell's output
            print(value.line)
            return None
        # Printed to stderr so it stands out; the exception still fails the
        # cell (and nbval), because showtraceback is what marks the error.
        if isinstance(value, ClientError):  # an AWS refusal from a boto3 call in the cell
            value = explain(value)
            etype = type(value)
        shell.showtraceback((etype, value, tb), tb_offset=0, exception_only=True)

    def _skipped_is_run(result) -> None:
        # IPython records the exception as the cell's error and the kernel would answer "error" (Run All stops
        # there, nbclient raises): a skipped cell ran as far as it could, so it succeeded.
        if result is not None and isinstance(result.error_in_exec, SkipCell):
            result.error_in_exec = None
            ip.last_execution_succeeded = True

    ip.set_custom_exc((CourseError, ClientError, SkipCell), _handler)
    ip.events.register("post_run_cell", _skipped_is_run)
    ip._course_error_handler = True


def register(ip) -> None:
    """Install the magic, the blank skipper and the error handler in the IPython shell ``ip``."""
    install_error_handler(ip)

    def hcl_magic(line, cell):
        print(write_cell(line, cell))

    hcl_magic.__doc__ = hcl.__doc__
    ip.register_magic_function(hcl_magic, magic_kind="cell", magic_name="hcl")
    if skip_python_with_blanks not in ip.input_transformers_cleanup:
        ip.input_transformers_cleanup.append(skip_python_with_blanks)
