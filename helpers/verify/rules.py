"""Rule: one security-group rule, parsed once from boto3's IpPermissions, and its one text.

    parse(permission)        boto3's IpPermission → one Rule per source (or destination)
    parse_group(group)       a describe_security_groups entry's ingress Rules (egress=True: egress)
    rule.text()              "tcp port 443 from 0.0.0.0/0", "all traffic to sg-…"
    protocol(permission)     the protocol in its one spelling: all, tcp, udp, icmp, icmpv6, a number
    rule_ports(permission)   the ports it covers (every port for a protocol without ports)

An IpPermission as boto3 returns it
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpPermission.html) holds a protocol
(a name: tcp, udp, icmp, icmpv6; or an IANA number; ``-1`` for all protocols), FromPort/ToPort
(for TCP and UDP a port range; for ICMP and ICMPv6 the type and the code, ``-1`` for all), and
several sources: IPv4 ranges, IPv6 ranges, security groups, prefix lists. AWS counts each source
as a rule of its own (https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html:
"a rule ... one source"), and so does ``parse``. "-1" or a protocol number other than tcp, udp,
icmp or icmpv6 allows every port, whatever range the rule names.

The audit (audit/analysis.py), the questions on groups (sg_rules.py) and the traffic lab's
filters (lab/net/filters.py) read rules through this type, so "every protocol" has one spelling
(``ALL``) and a rule prints the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ports import ALL_PORTS, NO_PORTS, Ports

ALL = "all"  # every protocol: boto3's "-1"
PROTOCOLS = {
    "-1": ALL,
    "all": ALL,
    "6": "tcp",
    "tcp": "tcp",
    "17": "udp",
    "udp": "udp",
    "1": "icmp",
    "icmp": "icmp",
    "58": "icmpv6",
    "icmpv6": "icmpv6",
}
WITH_PORTS = ("tcp", "udp")
ICMP = ("icmp", "icmpv6")
CIDR, GROUP, PREFIX_LIST = "cidr", "group", "prefix-list"  # what a rule's peer is


def protocol(permission: dict) -> str:
    """boto3's IpProtocol in the one spelling: all, tcp, udp, icmp, icmpv6, or another number."""
    value = str(permission.get("IpProtocol", "-1")).lower()
    return PROTOCOLS.get(value, value)


def rule_ports(permission: dict) -> Ports:
    """The TCP/UDP ports a rule covers (every port for other protocols: ICMP types are no ports)."""
    if protocol(permission) not in WITH_PORTS:
        return ALL_PORTS
    low, high = permission.get("FromPort"), permission.get("ToPort")
    if low is None or high is None or low < 0:
        return ALL_PORTS
    return Ports.of([(low, high)])


def _icmp_number(value: int | None) -> int | None:
    """An ICMP type or code; None for all (boto3's -1, or no value)."""
    return None if value is None or value < 0 else value


@dataclass(frozen=True)
class Rule:
    """One security-group rule: a protocol, its ports, one peer (source; for egress destination)."""

    protocol: str  # ALL, "tcp", "udp", "icmp", "icmpv6", or another IANA protocol number ("47")
    ports: Ports  # the TCP/UDP ports it covers; ALL_PORTS for every other protocol
    peer: str  # a CIDR ("0.0.0.0/0", "2001:db8::/32"), a group ("sg-…") or a prefix list ("pl-…")
    peer_kind: str = CIDR  # CIDR, GROUP or PREFIX_LIST
    egress: bool = False
    icmp_type: int | None = None  # ICMP/ICMPv6 only; None: every type
    icmp_code: int | None = None  # ICMP/ICMPv6 only; None: every code

    @property
    def tcp_ports(self) -> Ports:
        """The TCP ports it lets through (HTTP is TCP; protocols tcp and all carry TCP)."""
        return self.ports if self.protocol in ("tcp", ALL) else NO_PORTS

    def text(self) -> str:
        """The rule as one line: "tcp port 80 from 0.0.0.0/0", "all traffic to sg-…"."""
        peer = f"prefix list {self.peer}" if self.peer_kind == PREFIX_LIST else self.peer
        return f"{self._traffic()} {'to' if self.egress else 'from'} {peer}"

    def _traffic(self) -> str:
        if self.protocol == ALL:
            return "all traffic"
        if self.protocol in WITH_PORTS:
            if self.ports == ALL_PORTS:
                return f"{self.protocol} all ports"
            return f"{self.protocol} {'port' if len(self.ports) == 1 else 'ports'} {self.ports}"
        if self.protocol in ICMP:
            text = self.protocol
            if self.icmp_type is not None:
                text += f" type {self.icmp_type}"
                if self.icmp_code is not None:
                    text += f" code {self.icmp_code}"
            return text
        return f"protocol {self.protocol}"


def parse(permission: dict, egress: bool = False) -> tuple[Rule, ...]:
    """boto3's IpPermission as Rules, one per peer: IPv4, IPv6 ranges, groups, prefix lists."""
    proto = protocol(permission)
    icmp = proto in ICMP
    common = {
        "protocol": proto,
        "ports": rule_ports(permission),
        "egress": egress,
        "icmp_type": _icmp_number(permission.get("FromPort")) if icmp else None,
        "icmp_code": _icmp_number(permission.get("ToPort")) if icmp else None,
    }
    peers = [
        *((CIDR, r["CidrIp"]) for r in permission.get("IpRanges", [])),
        *((CIDR, r["CidrIpv6"]) for r in permission.get("Ipv6Ranges", [])),
        *((GROUP, r.get("GroupId", "")) for r in permission.get("UserIdGroupPairs", [])),
        *((PREFIX_LIST, r.get("PrefixListId", "")) for r in permission.get("PrefixListIds", [])),
    ]
    return tuple(Rule(peer=peer, peer_kind=kind, **common) for kind, peer in peers)


def parse_group(group: dict, egress: bool = False) -> tuple[Rule, ...]:
    """A describe_security_groups entry's rules, ingress (``egress``: egress), in AWS's order."""
    permissions = group.get("IpPermissionsEgress" if egress else "IpPermissions", [])
    return tuple(rule for permission in permissions for rule in parse(permission, egress))
