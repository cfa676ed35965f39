"""Feedback for an exercise's check cell: "✓ done: ..." or "not done yet: <the mistake, and the fix>".

Each lesson (helpers/exercises/lessons/) reads what is deployed (the Terraform state for
the IDs, boto3 for the truth) and judges it with a pure ``diagnose_*`` function of
boto3-shaped data, tested with wrong and right configurations in tests/exercises/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import course
from ..course import notebook
from ..verify.ports import MAX_PORT, Ports
from ..verify.rules import rule_ports

ANYWHERE = ("0.0.0.0/0", "::/0")
EVERY_PORT = (0, MAX_PORT)


@dataclass
class Feedback:
    exercise: str
    problems: list[str] = field(default_factory=list)
    done: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"✓ done: {self.done}"
        lines = [f"not done yet ({self.exercise}): {self.problems[0]}"]
        lines += [f"  also: {p}" for p in self.problems[1:]]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


class NotYet(Exception):
    """What is missing before a check can look at anything."""


def state_resource(address: str, what: str) -> dict:
    """The resource's attributes from the course stack's state, or NotYet saying what to run first."""
    found = course.state_resources().get(address) or course.state_resources().get(f"{address}[0]")
    if found is None:
        raise NotYet(
            f"{what} ({address}) is not in the Terraform state: fill in the blanks, run the cell that "
            "writes it and the apply cell, then this check again."
        )
    return found


def run_check(exercise: str, gather, diagnose, done: str) -> Feedback:
    """Gather boto3's answers, judge them with a pure ``diagnose`` function, say what is done or missing."""
    pending = notebook.pending_blanks()
    if pending:
        return Feedback(
            exercise,
            [
                f"the cell writing {pending[0]} still has blanks (____): fill them in and run "
                "it, then the apply cell, then this check."
            ],
        )
    try:
        data = gather()
    except NotYet as missing:
        return Feedback(exercise, [str(missing)])
    problems = diagnose(**data)
    return Feedback(exercise, problems, done if not problems else "")


def span(permission: dict) -> tuple[int, int]:
    """A rule's ports as one (from, to) range (every port for protocol -1)."""
    ports = rule_ports(permission)
    return ports.ranges[0] if ports else (permission.get("FromPort", 0), permission.get("ToPort", MAX_PORT))


def port_text(low: int, high: int) -> str:
    if (low, high) == EVERY_PORT:
        return "every port"
    return f"port {low}" if low == high else f"ports {low}-{high}"


def cidrs(permission: dict) -> list[str]:
    return [r["CidrIp"] for r in permission.get("IpRanges", [])] + [
        r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])
    ]


def covers(ranges: list[tuple[int, int]], low: int, high: int) -> bool:
    """True when the union of ``ranges`` includes every port from low to high."""
    return Ports.of(ranges).covers(Ports.of([(low, high)]))
