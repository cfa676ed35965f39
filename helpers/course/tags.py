"""The one reader of the course's tags.

Every course resource carries ``course = ecs-alb`` and ``learner = <name>``
(terraform/providers.tf sets them as default tags; the Auto Scaling group tags
itself and its instances). AWS spells tag lists two ways, ``[{"Key", "Value"}]``
(EC2, ELB, Auto Scaling, IAM, Route 53, ACM) and ``[{"key", "value"}]`` (ECS), and
CloudWatch Logs as a plain dict: ``as_dict`` reads all three.
"""

from __future__ import annotations

COURSE_TAG = ("course", "ecs-alb")


def as_dict(tags) -> dict:
    """Any of AWS's tag shapes (or a Terraform state's ``tags_all``) as {key: value}."""
    if isinstance(tags, dict):
        return dict(tags)
    return {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in tags or []}


def is_course(tags) -> bool:
    return as_dict(tags).get(COURSE_TAG[0]) == COURSE_TAG[1]


def learner_of(tags) -> str | None:
    """The learner a course resource belongs to (None: not the course's)."""
    found = as_dict(tags)
    return found.get("learner") if found.get(COURSE_TAG[0]) == COURSE_TAG[1] else None


def tagged(tags, learner: str | None) -> bool:
    """A course resource, and ``learner``'s when one is given."""
    found = as_dict(tags)
    return found.get(COURSE_TAG[0]) == COURSE_TAG[1] and (learner is None or found.get("learner") == learner)
