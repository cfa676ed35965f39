"""Learner-facing errors: every failure says what happened, why, and the one fix.

A ``CourseError`` renders as three short lines instead of a wall of traceback,
both in a terminal (``python -m helpers ...``) and in a notebook (helpers/course/notebook.py
registers an exception handler for it inside IPython). ``explain()`` turns AWS's
refusal of a call into one as well.

The floor of the house: this module imports nothing of the course.
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


class SkipCell(Exception):  # noqa: N818 - not an error: a notebook cell that has nothing to do here
    """Stops a notebook cell where it cannot do its work, with one line that says what it would have shown.

    Inside IPython (helpers/course/notebook.py) the line is printed as the cell's output, with no traceback,
    and the cell counts as run: "Run All" goes on, and nbval and nbclient see no error. Elsewhere it is a
    plain exception whose message is that line. ``lab.needed(...)`` raises it (helpers/lab/lesson.py).
    """

    def __init__(self, line: str):
        self.line = line.strip()
        super().__init__(self.line)


# AWS error codes a learner meets in this course: (why, fix). Used for boto3 errors in
# notebooks (helpers/course/notebook.py) and for the provider's errors (helpers/tf/diagnosis.py).
GROUP_FIX = (
    'take the id from the Terraform state, e.g. course.resource("aws_security_group.alb")["id"], '
    "or in HCL refer to the group (aws_security_group.alb.id) instead of pasting an id: "
    "ids change whenever a group is re-created, and differ between the emulator and AWS."
)
KNOWN_ERRORS = {
    "InvalidGroup.NotFound": ("No security group with this id exists in this account and region.", GROUP_FIX),
    "InvalidGroupId.Malformed": ('A security group id is "sg-" followed by 8 or 17 hexadecimal digits.', GROUP_FIX),
    "InvalidPermission.Malformed": (
        "A security group rule is malformed: TCP and UDP ports go from 0 to 65535, and "
        "from_port may not be greater than to_port (the emulator checks this as AWS does).",
        "correct the rule's from_port/to_port (or its address range), then run the cell that writes it again.",
    ),
}


def explain(error) -> CourseError:
    """A boto3 ClientError as one message: what AWS refused, why, and the fix."""
    info = getattr(error, "response", {}).get("Error", {})
    code, message = info.get("Code", "Error"), (info.get("Message") or "").strip()
    operation = getattr(error, "operation_name", "the call")
    why, fix = KNOWN_ERRORS.get(
        code, ("AWS refused the request.", f"check the values this cell passes to {operation}, then run it again.")
    )
    return CourseError(f"{operation} failed: {code}: {message}", why, fix)
