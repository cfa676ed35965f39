"""Helpers for the ECS-behind-an-ALB course: the names the notebooks import.

    from helpers import aws, course, cloud, lab, Terraform

This package's ``__init__`` is the learner's facade and nothing else: each name
below is a module (or class) of one of the layers, loaded when first asked for.
Importing the package does nothing more: no session, no hook, no Terraform or boto3,
so the lab's small programs and ``python -m helpers`` (which opens a session of its
own) pay only for what they use. The first name taken from the facade opens the
notebook's course session (helpers/course/session.py: recovery on, the cost banner
and the other hooks; helpers/README.md "Side effects in one place").

Inside an IPython kernel the import also registers ``%%hcl`` and the short error
messages at once: a cell magic must exist before its first cell runs.
The layers and their modules: helpers/README.md. Terminal: ``python -m helpers --help``.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, attribute or None for the module itself)
FACADE = {
    "CourseError": ("helpers.errors", "CourseError"),
    "aws": ("helpers.runtime.aws", None),
    "cloud": ("helpers.runtime.cloud", None),
    "emulator": ("helpers.runtime.emulator", None),
    "learner": ("helpers.runtime.learner", None),
    "workspace": ("helpers.workspace", None),
    "Terraform": ("helpers.tf.runner", "Terraform"),
    "course": ("helpers.course", None),
    "doctor": ("helpers.course.doctor", None),
    "inventory": ("helpers.course.inventory", None),
    "sg_rules": ("helpers.verify.sg_rules", None),
    "audit": ("helpers.verify.audit", None),
    "live_diagram": ("helpers.verify.live_diagram", None),
    "exercise": ("helpers.exercises", None),
    "lab": ("helpers.lab", None),
}
__all__ = list(FACADE)


def __dir__() -> list[str]:  # tab completion in a notebook lists the facade
    return sorted(__all__)


def __getattr__(name: str):
    """A facade name, on first use: open the notebook's session (asked from outside the package), then load the
    name's module."""
    if name not in FACADE:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}")
    module, attribute = FACADE[name]
    if not _asked_by_the_package():
        # The module, not the facade, is imported here: importlib keeps the session's layers out of `import helpers`.
        importlib.import_module("helpers.course.session").current()
    found = importlib.import_module(module)
    return getattr(found, attribute) if attribute else found


def _asked_by_the_package() -> bool:
    """Is the name asked for by one of the package's own modules (``from .. import workspace``)?

    For ``from PACKAGE import NAME`` the import system first asks the package for the attribute (hasattr, in
    importlib's ``_handle_fromlist``), so a module's own import of a sibling lands here too. That must not open
    the notebook's session: it would load Terraform's layers (python-terraform) into every lab process and
    ``python -m helpers`` command. The asker is the first frame outside importlib's own."""
    frame = sys._getframe(2)  # the frame that asked: above _asked_by_the_package and __getattr__
    while frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
        frame = frame.f_back
    return frame is not None and str(frame.f_globals.get("__name__", "")).startswith(f"{__name__}.")


def _register_in_ipython() -> None:
    """Inside a running IPython kernel: the %%hcl magic and the short error messages (no session yet)."""
    if "IPython" not in sys.modules:  # not inside IPython: nothing to register (and no slow import)
        return
    ip = sys.modules["IPython"].get_ipython()
    if ip is not None:
        importlib.import_module("helpers.course.notebook").register(ip)


_register_in_ipython()
