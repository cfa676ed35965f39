"""The course session: what runs around every Terraform command and every AWS client, wired in one place.

The lower layers do one job each and call nothing above them: ``aws.client()`` makes
a client, ``Terraform.cmd()`` checks the state, writes the override, inits, backs up and
streams. What the course needs around them is registered here, as hooks:

- before a client is made (``helpers/runtime/aws.py``'s HOOKS): restart a stopped
  emulator and re-apply what it lost (recovery); on AWS, name the account once;
  on the emulator, say once that real credentials in the environment are ignored;
- before a Terraform command (``Terraform.HOOKS``): on AWS, name the account and print
  what the stack costs per hour; refuse a plan or apply while a ``%%hcl`` cell of the
  stack was rejected; recovery, and a note of the emulator boot the stack is changed against;
- after a deliberate emulator reset (``emulator.RESET_HOOKS``): recovery forgets the stacks.

One ``Session`` is installed at a time. The notebook facade (``helpers/__init__.py``)
opens one with automatic recovery on when the first name is taken from it (importing
``helpers`` alone opens none); the command line (``helpers/cli/``) runs each command in
one with it off, since a terminal command never re-applies behind your back.
The session also holds what a kernel remembers between cells: the exercise's guard on
``%%hcl`` cells and the cells whose blanks are not filled in yet.
"""

from __future__ import annotations

import contextlib
import os
import sys

from .. import workspace
from ..errors import CourseError
from ..runtime import aws, cloud, emulator
from ..tf import state
from ..tf.hcl import REJECTED, rejected_cells
from ..tf.runner import Terraform
from . import costs, recovery


class Session:
    def __init__(self, *, automatic_recovery: bool):
        self.automatic_recovery = automatic_recovery  # re-apply stacks a restarted emulator lost
        self.recovering = False  # re-applying now: the commands that does must not recurse into recovery
        self.credentials_noted = False  # the "real credentials are ignored" note was shown
        self.hcl_guard = None  # exercises: returns why no %%hcl cell may be written now (None: go ahead)
        self.pending_blanks: dict[str, str] = {}  # %%hcl cells whose last run still had blanks ____

    # ------------------------------------------------------------------ what the hooks do

    def recover(self, skip: str | None = None, quiet: bool = False) -> dict:
        """The emulator's status, after restarting it and (if automatic) re-applying what it lost."""
        if self.recovering:
            return emulator.status()
        self.recovering = True
        try:
            return recovery.ensure(skip=skip, quiet=quiet, reapply=self.automatic_recovery)
        finally:
            self.recovering = False

    def note_ignored_credentials(self) -> None:
        note = None if self.credentials_noted else cloud.ignored_credentials_note()
        if note:
            self.credentials_noted = True
            print(note, file=sys.stderr)

    def before_client(self, service: str) -> None:
        if not cloud.is_emulator():
            aws.require_credentials()  # names the account and region once
            return
        self.note_ignored_credentials()
        if not os.environ.get("AWS_ENDPOINT_URL"):  # an emulator the course does not manage is left alone
            self.recover()

    def before_terraform(self, folder, name: str, variables: dict | None = None) -> None:
        """Before Terraform runs ``name`` in ``folder`` (the runner's hook, and ``python -m helpers terraform``)."""
        if not cloud.is_emulator():
            if name in ("plan", "apply", "destroy", "refresh", "import"):
                aws.require_credentials()  # names the account and region before anything changes
                if name in ("plan", "apply"):
                    costs.announce(folder, variables)  # and what the stack costs per hour there
        else:
            self.note_ignored_credentials()

    def before_command(self, tf: Terraform, name: str, args: tuple, kwargs: dict) -> None:
        self.before_terraform(tf.folder, name, kwargs.get("var"))
        if name in ("plan", "apply"):
            refuse_rejected_cells(tf, name)
        if self.recovering or not cloud.is_emulator() or os.environ.get("AWS_ENDPOINT_URL"):
            return
        saved_plan = bool(args) and (tf.folder / str(args[0])).is_file()
        # A destroy, or an apply that refreshes, brings this stack in line by itself.
        own = name == "destroy" or (name == "apply" and not saved_plan)
        status = self.recover(skip=tf.stack if own else None)
        if name in state.RISKY:
            recovery.record(tf.folder, status.get("boot"))

    def after_reset(self) -> None:
        recovery.forget()

    # ------------------------------------------------------------------ installing

    def install(self) -> Session:
        """Make this the session whose hooks run (replacing the one installed before)."""
        global _current
        if _current is not None:
            _current._uninstall()
        aws.HOOKS.append(self.before_client)
        Terraform.HOOKS.append(self.before_command)
        emulator.RESET_HOOKS.append(self.after_reset)
        _current = self
        return self

    def _uninstall(self) -> None:
        for hooks, hook in (
            (aws.HOOKS, self.before_client),
            (Terraform.HOOKS, self.before_command),
            (emulator.RESET_HOOKS, self.after_reset),
        ):
            if hook in hooks:
                hooks.remove(hook)


def refuse_rejected_cells(tf: Terraform, name: str) -> None:
    """A plan or apply while the stack's last %%hcl cell for a file was not saved would use its old version."""
    rejected = rejected_cells(tf.folder)
    if rejected:
        names = ", ".join(p.name.removesuffix(REJECTED) for p in rejected)
        raise CourseError(
            f"terraform {name} did not run: the last %%hcl cell for {names} was not saved (syntax error).",
            f"{names} still holds its previous version, so this would {name} something you have "
            "since changed. Nothing was changed.",
            f"fix that cell and run it again, then this one. To go on with the previous version "
            f"instead, delete {workspace.relative(rejected[0])}.",
        )


_current: Session | None = None


def _uninstall_current() -> None:
    global _current
    if _current is not None:
        _current._uninstall()
    _current = None


def current() -> Session:
    """The installed session; the first call (the facade's first name, in a notebook) opens one with automatic recovery."""
    return _current if _current is not None else Session(automatic_recovery=True).install()


@contextlib.contextmanager
def using(session: Session):
    """Run with ``session`` installed, then put back the one before (the CLI, called in-process by tests)."""
    before = _current
    session.install()
    try:
        yield session
    finally:
        if before is not None:
            before.install()
        else:
            _uninstall_current()
