"""The course stack, as notebooks call it: ``course.start("05-target-group")``, ``course.resource(...)``.

The functions live in helpers/course/stack.py; the course's steps in steps.py.
"""

from .stack import (
    HOST_PORT_RANGE,
    STACK,
    applied,
    archive_files,
    catch_up,
    check_learner,
    learner,
    register_targets_like_ecs,
    reset,
    resource,
    start,
    state_resources,
    target_settings,
    wait_for_targets,
)
from .steps import NOTEBOOKS, STEPS

__all__ = [
    "HOST_PORT_RANGE",
    "NOTEBOOKS",
    "STACK",
    "STEPS",
    "applied",
    "archive_files",
    "catch_up",
    "check_learner",
    "learner",
    "register_targets_like_ecs",
    "reset",
    "resource",
    "start",
    "state_resources",
    "target_settings",
    "wait_for_targets",
]
