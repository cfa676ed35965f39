"""Helpers for the ECS-behind-an-ALB course: the names the notebooks import.

    from helpers import aws, course, cloud, lab, Terraform

This package's ``__init__`` is the learner's facade and nothing else: each name
below is a module (or class) of one of the layers. Importing the package opens
the course session (helpers/course/session.py: recovery on; this loads the
course and Terraform layers) and, inside IPython, registers ``%%hcl`` and the
short error messages; the verify and exercise modules load when first asked for.
The layers and their modules: helpers/README.md. Terminal: ``python -m helpers --help``.
"""

from __future__ import annotations

import importlib
import sys

from .course import notebook, session
from .errors import CourseError

# name -> (module, attribute or None for the module itself)
FACADE = {
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
__all__ = ["CourseError", *FACADE]


def __dir__() -> list[str]:  # tab completion in a notebook lists the facade
    return sorted(__all__)


def __getattr__(name: str):
    if name not in FACADE:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}")
    module, attribute = FACADE[name]
    found = importlib.import_module(module)
    return getattr(found, attribute) if attribute else found


def _open() -> None:
    session.current()  # the notebook's session: automatic recovery on (the CLI opens its own)
    if "IPython" not in sys.modules:  # not inside IPython: nothing more to do (and no slow import)
        return
    from IPython import get_ipython  # heavy: only when IPython is already loaded

    ip = get_ipython()
    if ip is not None:
        notebook.register(ip)


_open()
