"""Small, exact questions about security groups, asked of boto3's answers.

The checks cells run read like the lesson: describe with boto3, then ask
"which ports does this group open to that group?" and assert on the answer.
Rules are read with rules.py, ports are the audit's ``Ports`` (ports.py); the answers are plain
lists of (from, to) ranges so that a notebook prints them as a learner reads them.
"""

from __future__ import annotations

from .ports import Ports
from .rules import ALL, CIDR, GROUP, PREFIX_LIST, parse_group, protocol


def tcp_applies(permission: dict) -> bool:
    """The rule lets TCP through (protocol tcp, or -1: every protocol)."""
    return protocol(permission) in ("tcp", ALL)


def ports_from_group(group: dict, source_group_id: str) -> list[tuple[int, int]]:
    """TCP port ranges ``group`` lets in from members of ``source_group_id``."""
    return sorted(
        span
        for rule in parse_group(group)
        if rule.peer_kind == GROUP and rule.peer == source_group_id
        for span in rule.tcp_ports.ranges
    )


def cidr_ingress(group: dict) -> list[str]:
    """Every ingress rule of ``group`` whose source is an address range (or a prefix list), as its text
    (rules.py's ``Rule.text``: "tcp port 443 from 0.0.0.0/0"), sorted: AWS keeps no order."""
    return sorted(rule.text() for rule in parse_group(group) if rule.peer_kind in (CIDR, PREFIX_LIST))


def allowed(port: int, ranges: list[tuple[int, int]]) -> bool:
    """``port`` is in one of ``ranges``."""
    return port in Ports.of(ranges)
