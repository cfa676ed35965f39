"""The exercise's Terraform: ``exercise.start("03-alb-security-group")``.

Unlike ``course.start`` it never stops the notebook: when earlier notebooks are
not applied it says how to catch up, and ``tf.plan()``/``tf.apply()`` then skip,
as they do while a ``%%hcl`` cell of the notebook still holds a blank. So a
half-done exercise can be run top to bottom without a traceback and without
applying half a lesson.
"""

from __future__ import annotations

from .. import course
from ..course import session, steps
from ..course.notebook import pending_blanks
from ..errors import SkipCell
from ..runtime import cloud, emulator
from ..tf.runner import Terraform


def missing_before(notebook: str) -> list[str]:
    """Course notebooks before ``notebook`` whose resources are not in the state."""
    return steps.missing_before(notebook, set(course.applied()))


class ExerciseTerraform(Terraform):
    """The course stack's Terraform, which skips plan and apply while the exercise cannot run them."""

    def __init__(self, notebook: str):
        self.notebook = notebook
        super().__init__(course.STACK)

    def blocked(self) -> str | None:
        """Why a plan or apply would not do what the learner means now (None: it would)."""
        pending = pending_blanks()
        if pending:
            return (
                f"Skipped: the cell writing {pending[0]} still has blanks (____), so the stack does not hold "
                "your code yet. Fill them in, run that cell, then this one. Nothing was changed."
            )
        missing = missing_before(self.notebook)
        if missing:
            return (
                f"Skipped: this exercise builds on notebook {missing[0]}, which is not applied in this workspace. "
                f"Catch up first (see the top of this notebook): run notebooks/{missing[0]}.ipynb, or finish "
                f"exercise {missing[0][:2]}. Nothing was changed."
            )
        return None

    def cmd(self, cmd, *args, **kwargs):
        if cmd.split()[0] in ("plan", "apply"):
            reason = self.blocked()
            if reason:
                print(reason)
                return None
        return super().cmd(cmd, *args, **kwargs)


def start(notebook: str) -> ExerciseTerraform:
    """``course.start`` for an exercise: says what is missing instead of stopping the notebook."""
    if notebook not in course.NOTEBOOKS:
        return course.start(notebook)  # raises the CourseError naming the valid notebooks

    def hold() -> str | None:
        missing = missing_before(notebook)
        if missing:
            return (
                f"this exercise builds on notebook {missing[0]}, which is not applied in this workspace, so "
                "its files would not work yet. Catch up first (see the top of this notebook), then run this "
                "cell again."
            )
        return None

    session.current().hcl_guard = hold  # every later %%hcl cell of this kernel asks first
    missing = missing_before(notebook)
    if not missing:
        course.start(notebook)  # prints the stack's status
    else:
        if cloud.is_emulator():
            emulator.start(quiet=True)
        print(
            f"Not ready yet: this exercise builds on notebook {missing[0]}, which is not applied in this workspace.\n"
            f"  Catch up: open notebooks/{missing[0]}.ipynb (the solution) and run all its cells, and so on up to the "
            f"notebook before this one;\n  or finish exercise {missing[0][:2]} first. Until then the Terraform "
            "cells below skip, and the check says what is missing."
        )
    return ExerciseTerraform(notebook)


def needs_the_stack() -> None:
    """A cell that reads the stack's resources stops here, with one line, while the earlier notebooks are not
    applied (the exercise's Setup reads what the lab's cells use; ``SkipCell``: no traceback, the cell counts as run).
    """
    hold = session.current().hcl_guard
    reason = hold() if hold else None
    if reason:
        raise SkipCell(f"(Not run yet: {reason})")
