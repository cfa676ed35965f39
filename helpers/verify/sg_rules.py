"""Small, exact questions about security groups, asked of boto3's answers.

The checks cells run read like the lesson: describe with boto3, then ask
"which ports does this group open to that group?" and assert on the answer.
Ports are the audit's ``Ports`` (helpers/verify/ports.py); the answers are plain
lists of (from, to) ranges so that a notebook prints them as a learner reads them.
"""

from __future__ import annotations

from .ports import ALL_PORTS, Ports, protocol, rule_ports


def tcp_applies(permission: dict) -> bool:
    """The rule lets TCP through (protocol tcp, or -1: every protocol)."""
    return protocol(permission) in ("tcp", "all")


def ports_from_group(group: dict, source_group_id: str) -> list[tuple[int, int]]:
    """TCP port ranges ``group`` lets in from members of ``source_group_id``."""
    return sorted(
        span
        for p in group.get("IpPermissions", [])
        if tcp_applies(p) and any(pair.get("GroupId") == source_group_id for pair in p.get("UserIdGroupPairs", []))
        for span in rule_ports(p).ranges
    )


def cidr_ingress(group: dict) -> list[str]:
    """Every ingress rule of ``group`` whose source is an address range, as text (sorted: AWS keeps no order)."""
    found = []
    for p in group.get("IpPermissions", []):
        ports = rule_ports(p)
        text = "all ports" if ports == ALL_PORTS else (f"port {ports}" if len(ports) == 1 else f"ports {ports}")
        what = "all protocols" if protocol(p) == "all" else p.get("IpProtocol")
        for r in p.get("IpRanges", []):
            found.append(f"{what} {text} from {r['CidrIp']}")
        for r in p.get("Ipv6Ranges", []):
            found.append(f"{what} {text} from {r['CidrIpv6']}")
        for r in p.get("PrefixListIds", []):
            found.append(f"{what} {text} from prefix list {r['PrefixListId']}")
    return sorted(found)


def allowed(port: int, ranges: list[tuple[int, int]]) -> bool:
    """``port`` is in one of ``ranges``."""
    return port in Ports.of(ranges)
