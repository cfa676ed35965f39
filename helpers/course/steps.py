"""The course's steps: one registry that the course, the facilitator, the exercises and the checks read.

Each notebook that adds to the course stack is a ``Step``: its two-digit id, its
notebook, the resource whose presence in the Terraform state proves its last apply
ran (``marker``), what the facilitator's table calls it (``progress``, recognised
in the live account by helpers/workshop/facilitator.py) and the check function of
its exercise (``exercise``, in helpers/exercises/lessons/). Adding a notebook means
adding one row here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CourseError


@dataclass(frozen=True)
class Step:
    id: str
    notebook: str
    marker: str | None = None  # resource in the state proving the notebook's apply ran
    progress: str | None = None  # the facilitator table's column
    exercise: str | None = None  # the exercise check function (helpers/exercises/lessons/)


STEPS = (
    Step("02", "02-network", "aws_route_table_association.public", "VPC", "network"),
    Step(
        "03",
        "03-alb-security-group",
        "aws_security_group_rule.alb_to_targets",
        "ALB security group",
        "alb_security_group",
    ),
    Step("04", "04-alb-and-listeners", "aws_lb_listener.https", "load balancer", "listeners"),
    Step("05", "05-target-group", "aws_lb_listener_rule.web", "target group", "target_group"),
    Step("06", "06-ecs-on-ec2", "aws_ecs_service.web", "ECS service", "ecs"),
    Step(
        "07",
        "07-lock-down-the-instances",
        "aws_security_group_rule.instances_from_alb",
        "instances locked to the ALB",
        "lockdown",
    ),
    Step("08", "08-dns", "aws_route53_record.app", "DNS record", "dns"),
    Step("09", "09-verify-everything"),
)
NOTEBOOKS = [step.notebook for step in STEPS]
BY_NOTEBOOK = {step.notebook: step for step in STEPS}
BY_ID = {step.id: step for step in STEPS}


def step(notebook: str, caller: str = "start()") -> Step:
    """The step of ``notebook``, or a CourseError naming the valid ones."""
    if notebook not in BY_NOTEBOOK:
        raise CourseError(
            f"{notebook!r} is not a course notebook.",
            f"{caller} takes a notebook's name.",
            f"use one of: {', '.join(NOTEBOOKS)}",
        )
    return BY_NOTEBOOK[notebook]


def before(notebook: str) -> list[Step]:
    """The steps before ``notebook``, in course order."""
    return list(STEPS[: NOTEBOOKS.index(notebook)])


def missing_before(notebook: str, applied: set[str]) -> list[str]:
    """The notebooks before ``notebook`` that build something and are not among ``applied``, in order."""
    return [s.notebook for s in before(notebook) if s.marker and s.notebook not in applied]
