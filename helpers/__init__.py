"""Helpers for the ECS-behind-an-ALB course.

Notebooks use:
    from helpers import aws, emulator
    from helpers.terraform import Terraform

One module per job: ``emulator`` (the local AWS), ``terraform`` (Terraform
and its provider, offline), ``aws`` (boto3 clients), ``targets`` (emulator
or real AWS), ``doctor`` (is everything ready?), ``magics`` (``%%hcl``),
``course`` (the course stack and notebook order), ``checks`` (security group
questions), ``inventory`` (resources tagged by the course), ``certificates``
(the emulator's self-signed certificate), ``live_diagram`` (a picture of
what is deployed), ``standalone`` (terraform/ on its own), ``learner`` (the
learner name that namespaces a workshop participant's resources), ``facilitator``
(every learner's progress, for the instructor), ``exercises`` (the exercise
notebooks, generated from the solutions) and ``exercise_checks`` (their
Terraform guard and check cells).
Terminal: ``python -m helpers --help``.
"""

from __future__ import annotations

from .errors import CourseError, install_notebook_handler


def _setup_notebook() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    install_notebook_handler()
    from . import magics

    magics.register(ip)


_setup_notebook()

__all__ = ["CourseError"]
