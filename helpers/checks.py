"""Small, exact questions about security groups, asked of boto3's answers.

The checks cells run read like the lesson: describe with boto3, then ask
"which ports does this group open to that group?" and assert on the answer.
"""

from __future__ import annotations

ALL = (0, 65535)


def _ports(permission: dict) -> tuple[int, int]:
    if permission.get("IpProtocol") == "-1":  # all protocols, all ports
        return ALL
    return permission.get("FromPort", 0), permission.get("ToPort", 65535)


def tcp_applies(permission: dict) -> bool:
    return permission.get("IpProtocol") in ("tcp", "6", "-1")


def ports_from_group(group: dict, source_group_id: str) -> list[tuple[int, int]]:
    """TCP port ranges ``group`` lets in from members of ``source_group_id``."""
    return sorted(
        _ports(p)
        for p in group.get("IpPermissions", [])
        if tcp_applies(p) and any(pair.get("GroupId") == source_group_id for pair in p.get("UserIdGroupPairs", []))
    )


def cidr_ingress(group: dict) -> list[str]:
    """Every ingress rule of ``group`` whose source is an address range, as text (sorted: AWS keeps no order)."""
    found = []
    for p in group.get("IpPermissions", []):
        low, high = _ports(p)
        ports = "all ports" if (low, high) == ALL else (f"port {low}" if low == high else f"ports {low}-{high}")
        protocol = "all protocols" if p.get("IpProtocol") == "-1" else p.get("IpProtocol")
        for r in p.get("IpRanges", []):
            found.append(f"{protocol} {ports} from {r['CidrIp']}")
        for r in p.get("Ipv6Ranges", []):
            found.append(f"{protocol} {ports} from {r['CidrIpv6']}")
        for r in p.get("PrefixListIds", []):
            found.append(f"{protocol} {ports} from prefix list {r['PrefixListId']}")
    return sorted(found)


def allowed(port: int, ranges: list[tuple[int, int]]) -> bool:
    return any(low <= port <= high for low, high in ranges)
