"""Who is learning: the learner name that namespaces everything one person creates.

    python -m helpers learner ana        (saved in the workspace; COURSE_LEARNER wins)

The name reaches Terraform as ``TF_VAR_learner`` (helpers/tf/toolchain.py), so
``var.learner`` prefixes every resource name (``ecs-alb-ana-...``), the
``learner`` tag and the default domain, and many learners can share one
emulator (a workshop's room emulator) or one AWS account without collisions.
Each learner works in a workspace of their own, so Terraform states never mix.
Without a name the course uses ``learner``, the default of ``var.learner``.
"""

from __future__ import annotations

import os
import re

from .. import workspace
from ..errors import CourseError

DEFAULT = "learner"  # the default of var.learner in terraform/variables.tf
PATTERN = re.compile(r"^[a-z][a-z0-9]{0,11}$")  # the same rule as var.learner's validation
ENV = "COURSE_LEARNER"


def check(name: str, fix: str = "") -> str:
    """``name`` if it is a valid learner name, else a CourseError saying what is allowed."""
    if not isinstance(name, str) or not PATTERN.match(name):
        raise CourseError(
            f"{name!r} is not a valid learner name.",
            "It becomes part of every resource name (e.g. the load balancer's, which AWS limits to 32 "
            "characters) and of the learner tag: 1 to 12 lower-case letters or digits, starting with a letter.",
            fix or "choose a name like ana or team3: python -m helpers learner ana",
        )
    return name


def current() -> str:
    """The learner name: COURSE_LEARNER, else the one saved in the workspace, else ``learner``."""
    if os.environ.get(ENV):
        return check(os.environ[ENV].strip(), f"set {ENV} to a name like ana or team3, or unset it")
    saved = workspace.read_json("config.json").get("learner")
    return check(saved) if saved else DEFAULT


def use(name: str) -> str:
    """Save the learner name for this workspace (``python -m helpers learner NAME``)."""
    name = check(name.strip())
    config = workspace.read_json("config.json")
    config["learner"] = name
    workspace.write_json("config.json", config)
    return name
