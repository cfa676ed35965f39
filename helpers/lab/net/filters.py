"""One host's security groups compiled into an nftables ruleset (table ``inet lab_sg``). Pure.

Security groups as AWS documents them
(https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-groups.html,
https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html):
rules only allow; a packet passes when any rule of any attached group matches; groups are
stateful (replies to allowed traffic pass whatever the rules); a rule names a protocol (tcp,
udp, icmp, or -1 = all), a port range, and one source (IPv4/IPv6 CIDR, another group = the
private addresses of the interfaces it is attached to, or a prefix list); anything else is
dropped silently (the sender times out).

The table, in each host namespace:
    chain ingress   hook prerouting priority -150: after conntrack (-200), before DNAT (-100),
                    so the original destination port is what the rules see, as at an ENI
    chain egress    hook output priority -150: what the host itself sends
    chain forward   hook forward priority -150: what its containers send out (docker0 → eth0)
Only traffic through ``eth0`` (the interface) is filtered; lo and docker0 stay inside the host.
Each rule carries a comment naming the group and rule it came from (``lab rules`` prints them).
Group rules are read as the audit reads them: helpers/verify/rules.py's ``Rule`` (one per source,
one protocol spelling, one text).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ...errors import CourseError
from ...verify.ports import ALL_PORTS
from ...verify.rules import ALL, GROUP, ICMP, PREFIX_LIST, WITH_PORTS, Rule, parse
from ..model import Host, Model, SecurityGroup

TABLE = "lab_sg"
INTERFACE = "eth0"


@dataclass(frozen=True)
class CompiledRule:
    """A group rule and the nft rules it became (none: e.g. a reference to a group with no members)."""

    group_id: str
    direction: str  # "ingress" or "egress"
    index: int  # position of its IpPermission in the group's IpPermissions[Egress]
    rule: Rule  # one source (or destination) of that IpPermission (helpers/verify/rules.py)
    nft: tuple[str, ...]


def _match(rule: Rule, family: str) -> str | None:
    """The protocol/port part of a rule for one address family; None when it can never match there."""
    proto = rule.protocol
    if proto == ALL:
        return ""
    if proto in WITH_PORTS:
        if not rule.ports:
            return None
        if rule.ports == ALL_PORTS:
            return f"meta l4proto {proto}"
        ((low, high),) = rule.ports.ranges
        return f"meta l4proto {proto} th dport {low if low == high else f'{low}-{high}'}"
    if proto in ICMP:
        if (proto == "icmp") != (family == "ip"):
            return None  # ICMP rules apply to IPv4, ICMPv6 rules to IPv6
        text = f"meta l4proto {'icmp' if proto == 'icmp' else 'ipv6-icmp'}"
        if rule.icmp_type is not None:
            text += f" {proto} type {rule.icmp_type}"
            if rule.icmp_code is not None:
                text += f" {proto} code {rule.icmp_code}"
        return text
    if proto.isdigit():
        return f"meta l4proto {int(proto)}"
    raise CourseError(
        f"The lab cannot express protocol {proto!r}.",
        "It filters tcp, udp, icmp, icmpv6, -1 (all) and protocol numbers.",
        "use one of those protocols in the rule.",
    )


def _addresses(values: list[str], family: str, side: str) -> str:
    """An nft address match (``ip saddr {…}``), or the family alone for /0."""
    nets = [ipaddress.ip_network(v, strict=False) for v in values]
    if any(n.prefixlen == 0 for n in nets):
        return f"meta nfproto {'ipv4' if family == 'ip' else 'ipv6'}"
    items = sorted({str(n) if n.prefixlen != n.max_prefixlen else str(n.network_address) for n in nets})
    return f"{family} {side} " + (items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }")


def compile_rule(model: Model, group: SecurityGroup, rule: Rule, direction: str, index: int) -> CompiledRule:
    """One group rule → its nft rules. Raises CourseError for a rule the lab cannot express."""
    text = rule.text()
    if rule.peer_kind == PREFIX_LIST:
        raise CourseError(
            f"The lab cannot enforce the rule {text} of {group.id} ({direction}).",
            "It refers to a managed prefix list, whose entries the emulator does not keep; "
            "the lab never silently allows what it cannot check.",
            f"replace the prefix list {rule.peer} by the CIDR blocks it stands for.",
        )
    comment = f"{group.id} {direction} #{index}: {text}"[:120].replace('"', "'")
    side = "saddr" if direction == "ingress" else "daddr"
    if rule.peer_kind == GROUP:
        addresses = [member.private_ip for member in model.members(rule.peer)]
    else:
        addresses = [rule.peer]
    lines = []
    for family in ("ip", "ip6"):
        values = [a for a in addresses if (":" in a) == (family == "ip6")]
        if not values:
            continue
        match = _match(rule, family)
        if match is None:
            continue
        parts = [_addresses(values, family, side), match, "accept", f'comment "{comment}"']
        lines.append(" ".join(p for p in parts if p))
    return CompiledRule(group.id, direction, index, rule, tuple(lines))


def compile_host(model: Model, host: Host) -> list[CompiledRule]:
    """Every rule of every group attached to ``host``, compiled, in order (ingress then egress)."""
    rules = []
    for direction in ("ingress", "egress"):
        for group in model.host_groups(host):
            permissions = group.ingress if direction == "ingress" else group.egress
            rules += [
                compile_rule(model, group, rule, direction, n)
                for n, permission in enumerate(permissions)
                for rule in parse(permission.as_boto(), egress=direction == "egress")
            ]
    return rules


def ruleset(model: Model, host: Host) -> str:
    """The whole ``inet lab_sg`` table for ``host`` (to ``nft -f``; replaces any previous one)."""
    rules = compile_host(model, host)
    ingress = [line for r in rules if r.direction == "ingress" for line in r.nft]
    egress = [line for r in rules if r.direction == "egress" for line in r.nft]

    def chain(name: str, hook: str, direction: str, lines: list[str]) -> list[str]:
        iface = "iifname" if direction == "ingress" else "oifname"
        return [
            f"  chain {name} {{",
            f"    type filter hook {hook} priority -150; policy accept;",
            f'    {iface} != "{INTERFACE}" accept comment "not through the interface: inside the host"',
            '    ct state established,related accept comment "stateful: replies to allowed traffic"',
            *(f"    {line}" for line in lines),
            f'    drop comment "{host.id}: everything its groups do not allow ({direction})"',
            "  }",
        ]

    text = [
        f"table inet {TABLE}",  # declared, then deleted, then defined: an atomic replace
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        *chain("ingress", "prerouting", "ingress", ingress),
        *chain("egress", "output", "egress", egress),
        *chain("forward", "forward", "egress", egress),
        "}",
    ]
    return "\n".join(text) + "\n"


def listing(model: Model, host: Host) -> str:
    """The compiled rules next to the group rules they came from (``lab rules HOST``)."""
    out = [f"{host.id} ({host.role}, {host.private_ip}{', public ' + host.public_ip if host.public_ip else ''})"]
    for direction in ("ingress", "egress"):
        out.append(f"  {direction}:")
        compiled = [r for r in compile_host(model, host) if r.direction == direction]
        for done in compiled:
            out.append(f"    {done.group_id} #{done.index}: {done.rule.text()}")
            for line in done.nft or ("(nothing: the referenced group has no members now)",):
                out.append(f"        nft: {line.split(' comment ')[0]}")
        out.append("    then: established/related replies accept, everything else drop")
    return "\n".join(out)
