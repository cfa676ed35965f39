"""Learner-facing errors: every failure says what happened, why, and the one fix.

A ``CourseError`` renders as three short lines instead of a wall of traceback,
both in a terminal (``python -m helpers ...``) and in a notebook (the helpers
register a custom exception handler for it when imported inside IPython).
"""

from __future__ import annotations


class CourseError(Exception):
    """An error a learner can act on.

    what: what went wrong, in one sentence.
    why:  the cause, in one sentence.
    fix:  the command or edit that fixes it.
    """

    def __init__(self, what: str, why: str, fix: str, *, detail: str = ""):
        self.what = what.strip()
        self.why = why.strip()
        self.fix = fix.strip()
        self.detail = detail.rstrip()
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"✗ {self.what}", f"  Why: {self.why}", f"  Fix: {self.fix}"]
        if self.detail:
            lines += ["", self.detail]
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.render()


def install_notebook_handler() -> None:
    """Show CourseError, and AWS's refusals of boto3 calls, in notebooks as short messages, not tracebacks."""
    try:
        from IPython import get_ipython
    except ImportError:  # not in IPython: nothing to do
        return
    ip = get_ipython()
    if ip is None or getattr(ip, "_course_error_handler", False):
        return

    from botocore.exceptions import ClientError

    def _handler(shell, etype, value, tb, tb_offset=None):
        # Printed to stderr so it stands out; the exception still fails the
        # cell (and nbval), because showtraceback is what marks the error.
        if isinstance(value, ClientError):  # an AWS refusal from a boto3 call in the cell
            from .aws import explain

            value = explain(value)
            etype = type(value)
        shell.showtraceback((etype, value, tb), tb_offset=0, exception_only=True)

    ip.set_custom_exc((CourseError, ClientError), _handler)
    ip._course_error_handler = True
