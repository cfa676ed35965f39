"""The reachability audit: who can reach the load balancer and the instances, on which ports.

    from helpers import audit
    report = audit.run()             # the learner's load balancer(s), read live with boto3
    report                           # in a notebook: the matrix and the findings as tables
    report.ok                        # False when a high-severity finding exists

    python -m helpers audit [--learner NAME] [--json]   (exit code 1 on a high finding)

It works in two steps, so that the logic can be tested without AWS:

``collect()``  describes load balancers, listeners, target groups, registered
               targets, instances, subnets and security groups through boto3
               (emulator or AWS alike) into a plain dict, a *snapshot*;
``analyse()``  evaluates the security-group rules of the snapshot, the way
               the VPC does, and returns a ``Report``: the reachability matrix
               and findings, each with a severity and a fix.

Security-group semantics, as documented by AWS: rules only allow (no deny),
a packet is allowed when any rule of any group attached to the interface
matches it; a rule matches on protocol (``-1`` = every protocol and port),
a port range (TCP/UDP), and one source: an IPv4 or IPv6 range (containment,
evaluated with ``ipaddress``), another security group (matches traffic from
interfaces that group is attached to, whatever their addresses) or a managed
prefix list (its entries are read when AWS lets us; otherwise the finding
says the rule could not be evaluated). Groups are stateful: replies to an
allowed request pass, so only the opening direction is checked.
"""

from __future__ import annotations

import html
import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CourseError

MAX_PORT = 65535
HOST_PORT_RANGE = (32768, 65535)  # var.host_port_range: where Docker/ECS put hostPort 0
SEVERITIES = ("high", "medium", "low", "info")

# ---------------------------------------------------------------- port sets


@dataclass(frozen=True)
class Ports:
    """A set of port numbers 0-65535, kept as sorted, disjoint, non-adjacent inclusive ranges."""

    ranges: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, ranges: Iterable[tuple[int, int]]) -> Ports:
        merged: list[list[int]] = []
        for low, high in sorted((max(0, a), min(MAX_PORT, b)) for a, b in ranges):
            if low > high:
                continue
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        return cls(tuple((a, b) for a, b in merged))

    def __contains__(self, port: int) -> bool:
        return any(low <= port <= high for low, high in self.ranges)

    def __or__(self, other: Ports) -> Ports:
        return Ports.of(self.ranges + other.ranges)

    def __and__(self, other: Ports) -> Ports:
        return Ports.of((max(a, c), min(b, d)) for a, b in self.ranges for c, d in other.ranges)

    def __sub__(self, other: Ports) -> Ports:
        return self & other.complement()

    def complement(self) -> Ports:
        gaps, start = [], 0
        for low, high in self.ranges:
            gaps.append((start, low - 1))
            start = high + 1
        gaps.append((start, MAX_PORT))
        return Ports.of(gaps)

    def covers(self, other: Ports) -> bool:
        return not (other - self)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __len__(self) -> int:
        return sum(high - low + 1 for low, high in self.ranges)

    def __str__(self) -> str:
        if not self.ranges:
            return "none"
        if self.ranges == ((0, MAX_PORT),):
            return "all ports"
        return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in self.ranges)


ALL_PORTS = Ports(((0, MAX_PORT),))
NO_PORTS = Ports()

PROTOCOLS = {
    "-1": "all",
    "all": "all",
    "6": "tcp",
    "tcp": "tcp",
    "17": "udp",
    "udp": "udp",
    "1": "icmp",
    "icmp": "icmp",
    "58": "icmpv6",
    "icmpv6": "icmpv6",
}


def protocol(permission: dict) -> str:
    value = str(permission.get("IpProtocol", "-1")).lower()
    return PROTOCOLS.get(value, value)


def rule_ports(permission: dict) -> Ports:
    """The TCP/UDP ports a rule covers (ICMP type/code are not ports: every ICMP rule is 'all')."""
    if protocol(permission) not in ("tcp", "udp"):
        return ALL_PORTS
    low, high = permission.get("FromPort"), permission.get("ToPort")
    if low is None or high is None or low < 0:
        return ALL_PORTS
    return Ports.of([(low, high)])


def tcp_ports(permission: dict) -> Ports:
    """The TCP ports a rule allows (HTTP to the ALB and to targets is TCP)."""
    return rule_ports(permission) if protocol(permission) in ("tcp", "all") else NO_PORTS


# ---------------------------------------------------------------- addresses

# Address blocks that are not reachable from the internet (RFC 6890 special
# purpose, private, shared, loopback, link-local, multicast, reserved). The
# documentation blocks (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
# 2001:db8::/32) count as public here: examples use them to stand for "some
# address on the internet", as this course does for the remote database.
NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


def network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR as a network; host bits set are an error, as they are for AWS."""
    try:
        return ipaddress.ip_network(cidr, strict=True)
    except ValueError as error:
        raise CourseError(
            f"{cidr!r} is not a valid CIDR block.",
            f"{error}. A CIDR is an address, a slash and a prefix length, with no host bits set.",
            "write it like 10.0.0.0/16, 0.0.0.0/0 or 2001:db8::/32.",
        ) from None


def is_public(net) -> bool:
    """True when some address of ``net`` is on the public internet."""
    net = network(net) if isinstance(net, str) else net
    return not any(net.version == block.version and net.subnet_of(block) for block in NOT_PUBLIC)


def contains(outer, inner) -> bool:
    """Every address of ``inner`` is in ``outer`` (different IP versions never match)."""
    outer = network(outer) if isinstance(outer, str) else outer
    inner = network(inner) if isinstance(inner, str) else inner
    return outer.version == inner.version and inner.subnet_of(outer)


def overlaps(a, b) -> bool:
    a = network(a) if isinstance(a, str) else a
    b = network(b) if isinstance(b, str) else b
    return a.version == b.version and a.overlaps(b)


# ---------------------------------------------------------------- rule matching


@dataclass(frozen=True)
class Peer:
    """Who sends the traffic: the internet, or interfaces with security groups and addresses."""

    name: str
    groups: frozenset = frozenset()
    networks: tuple = ()  # where its addresses come from (e.g. the ALB's subnets)
    internet: bool = False  # any public address


@dataclass
class Match:
    ports: Ports
    rule: str  # the rule, as text
    source: str  # what matched: "0.0.0.0/0", "sg-…", "pl-…"
    scope: str  # "anyone", "public range", "private range", "group", "partial"


@dataclass
class Evaluation:
    matches: list[Match] = field(default_factory=list)
    unevaluated: list[str] = field(default_factory=list)

    def ports(self, scopes: Iterable[str] | None = None) -> Ports:
        result = NO_PORTS
        for match in self.matches:
            if scopes is None or match.scope in scopes:
                result = result | match.ports
        return result


def describe_rule(permission: dict, source: str, group_id: str, direction: str = "from") -> str:
    proto = protocol(permission)
    ports = rule_ports(permission)
    if proto == "all":
        what = "all traffic"
    elif proto in ("tcp", "udp"):
        what = f"{proto} {'port' if len(ports) == 1 else 'ports'} {ports}"
    else:
        what = f"{proto}"
    return f"{what} {direction} {source} on {group_id}"


def _sources(permission: dict, egress: bool):
    key = "DestinationPrefixListId" if egress else "PrefixListId"
    for r in permission.get("IpRanges", []):
        yield "cidr", r["CidrIp"]
    for r in permission.get("Ipv6Ranges", []):
        yield "cidr", r["CidrIpv6"]
    for r in permission.get("UserIdGroupPairs", []):
        yield "group", r.get("GroupId", "")
    for r in permission.get("PrefixListIds", []):
        yield "prefix-list", r.get("PrefixListId") or r.get(key, "")


def evaluate(
    groups: list[dict],
    peer: Peer,
    prefix_lists: dict[str, list[str] | None] | None = None,
    egress: bool = False,
    tcp_only: bool = True,
) -> Evaluation:
    """Which ports ``groups`` let in from ``peer`` (or out to it, with ``egress``)."""
    prefix_lists = prefix_lists or {}
    result = Evaluation()
    direction = "to" if egress else "from"
    for group in groups:
        for permission in group.get("IpPermissionsEgress" if egress else "IpPermissions", []):
            ports = tcp_ports(permission) if tcp_only else rule_ports(permission)
            if not ports:
                continue
            for kind, value in _sources(permission, egress):
                text = describe_rule(permission, value, group["GroupId"], direction)
                if kind == "group":
                    if value in peer.groups:
                        result.matches.append(Match(ports, text, value, "group"))
                    continue
                if kind == "prefix-list":
                    entries = prefix_lists.get(value)
                    if entries is None:
                        result.unevaluated.append(
                            f"{text}: the entries of prefix list {value} could not be read, so this rule "
                            "was not evaluated"
                        )
                        continue
                    cidrs = entries
                else:
                    cidrs = [value]
                for cidr in cidrs:
                    scope = _scope(network(cidr), peer)
                    if scope:
                        result.matches.append(Match(ports, text if kind == "cidr" else f"{text} ({cidr})", cidr, scope))
    return result


def _scope(net, peer: Peer) -> str | None:
    if peer.internet:
        if not is_public(net):
            return None
        return "anyone" if net.prefixlen == 0 else "public range"
    if peer.networks and all(contains(net, n) for n in peer.networks):
        return "private range" if not is_public(net) else ("anyone" if net.prefixlen == 0 else "public range")
    if any(overlaps(net, n) for n in peer.networks):
        return "partial"
    return None


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class Finding:
    severity: str
    what: str
    fix: str

    def sort_key(self):
        return SEVERITIES.index(self.severity), self.what


@dataclass
class Row:
    source: str
    destination: str
    allowed: str
    verdict: str  # "ok", "warn", "bad"


MARK = {"ok": "✓", "warn": "!", "bad": "✗"}


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    title: str = "Reachability audit"

    @property
    def ok(self) -> bool:
        return not any(f.severity == "high" for f in self.findings)

    def count(self, severity: str) -> int:
        return sum(f.severity == severity for f in self.findings)

    def sorted_findings(self) -> list[Finding]:
        return sorted(set(self.findings), key=Finding.sort_key)

    def verdict(self) -> str:
        if not self.findings:
            return "clean: no findings"
        counts = ", ".join(f"{self.count(s)} {s}" for s in SEVERITIES if self.count(s))
        return f"{'FAILED' if not self.ok else 'passed'}: {counts}"

    def text(self) -> str:
        lines = [f"{self.title}: {self.verdict()}", ""]
        width = max((len(f"{r.source} → {r.destination}") for r in self.rows), default=0)
        for r in self.rows:
            lines.append(f"  {MARK[r.verdict]} {f'{r.source} → {r.destination}':<{width}}  {r.allowed}")
        for f in self.sorted_findings():
            lines += ["", f"  [{f.severity}] {f.what}", f"      fix: {f.fix}"]
        return "\n".join(lines)

    __str__ = text

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        e = html.escape
        colour = {
            "ok": "#1a7f37",
            "warn": "#9a6700",
            "bad": "#cf222e",
            "high": "#cf222e",
            "medium": "#9a6700",
            "low": "#57606a",
            "info": "#57606a",
        }
        rows = "".join(
            f"<tr><td style='color:{colour[r.verdict]}'>{MARK[r.verdict]}</td><td>{e(r.source)}</td>"
            f"<td>{e(r.destination)}</td><td style='text-align:left'>{e(r.allowed)}</td></tr>"
            for r in self.rows
        )
        out = [
            f"<p><b>{e(self.title)}</b>: {e(self.verdict())}</p>",
            "<table><thead><tr><th></th><th>from</th><th>to</th><th style='text-align:left'>allowed</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>",
        ]
        if self.findings:
            found = "".join(
                f"<tr><td style='color:{colour[f.severity]}'><b>{e(f.severity)}</b></td>"
                f"<td style='text-align:left'>{e(f.what)}</td><td style='text-align:left'>{e(f.fix)}</td></tr>"
                for f in self.sorted_findings()
            )
            out.append(
                "<table><thead><tr><th>severity</th><th style='text-align:left'>finding</th>"
                f"<th style='text-align:left'>fix</th></tr></thead><tbody>{found}</tbody></table>"
            )
        return "\n".join(out)

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "ok": self.ok,
            "verdict": self.verdict(),
            "rows": [r.__dict__ for r in self.rows],
            "findings": [f.__dict__ for f in self.sorted_findings()],
        }


# ---------------------------------------------------------------- analysis


def analyse(snapshot: dict, host_port_range: tuple[int, int] = HOST_PORT_RANGE) -> Report:
    """Evaluate a snapshot (``collect()``'s shape) into a report. Pure: no AWS calls."""
    report = Report(title=snapshot.get("title", "Reachability audit"))
    balancers = snapshot.get("load_balancers", [])
    if not balancers:
        report.findings.append(
            Finding(
                "info",
                "no load balancer of this course was found, so there is nothing to audit yet",
                "apply notebook 04 (the load balancer) first, or check the learner name and target",
            )
        )
        return report
    for lb in balancers:
        _analyse_balancer(snapshot, lb, report, Ports.of([host_port_range]))
    report.findings = report.sorted_findings()  # one of each, most severe first
    return report


def _groups(snapshot: dict, ids: Iterable[str], report: Report, owner: str) -> list[dict]:
    found = []
    for gid in sorted(set(ids)):
        group = snapshot.get("security_groups", {}).get(gid)
        if group is None:
            report.findings.append(
                Finding(
                    "info",
                    f"security group {gid} (used by {owner}) could not be read, so its rules were not evaluated",
                    "check that the group exists (aws ec2 describe-security-groups --group-ids " + gid + ")",
                )
            )
        else:
            found.append(group)
    return found


def _analyse_balancer(snapshot: dict, lb: dict, report: Report, host_ports: Ports) -> None:
    prefix_lists = snapshot.get("prefix_lists", {})
    name = lb["name"]
    alb_groups = _groups(snapshot, lb.get("security_groups", []), report, f"load balancer {name}")
    alb_ids = {g["GroupId"] for g in alb_groups}
    internet = Peer("the internet", internet=True)
    alb_peer = Peer(
        f"load balancer {name}",
        frozenset(lb.get("security_groups", [])),
        tuple(network(c) for c in lb.get("subnet_cidrs", [])),
    )

    for text in (evaluation := evaluate(alb_groups, internet, prefix_lists)).unevaluated:
        report.findings.append(
            Finding(
                "info",
                f"cannot evaluate {text}",
                "read the list's entries (aws ec2 get-managed-prefix-list-entries) and check them by hand",
            )
        )
    listeners = lb.get("listeners", [])
    listener_ports = Ports.of((l["port"], l["port"]) for l in listeners)
    open_to_all = evaluation.ports({"anyone"})
    open_to_some = evaluation.ports({"anyone", "public range"})

    # internet → ALB
    extra = open_to_some - listener_ports
    closed = listener_ports - open_to_some
    verdict = "warn" if extra or closed else "ok"
    shown = (
        str(open_to_all)
        if open_to_all == open_to_some
        else f"{open_to_all} (anyone), {open_to_some - open_to_all} (part of it)"
    )
    report.rows.append(Row("internet", f"ALB {name}", f"tcp {shown}", verdict))
    for match in evaluation.matches:
        stray = match.ports - listener_ports
        if stray:
            report.findings.append(
                Finding(
                    "medium",
                    f"{match.rule}: {_ports_text(stray)} open to "
                    f"{'the whole internet' if match.scope == 'anyone' else match.source}, but no listener uses "
                    f"{'it' if len(stray) == 1 else 'them'} (the ALB's group)",
                    f"remove the rule or narrow it to the listener ports ({listener_ports}); an ALB answers only on "
                    "its listeners, and anything else attached to this group would be exposed",
                )
            )
    for listener in listeners:
        if listener["port"] not in open_to_some:
            report.findings.append(
                Finding(
                    "high",
                    f"listener {listener['protocol']}:{listener['port']} cannot be reached from the internet: "
                    f"the ALB's group does not allow tcp {listener['port']}",
                    f"add an ingress rule for tcp {listener['port']} from 0.0.0.0/0 to the ALB's group",
                )
            )

    # listeners
    report.rows.append(
        Row(
            "internet",
            f"listeners of {name}",
            "; ".join(_listener_text(l) for l in listeners) or "none",
            "ok" if _listeners_findings(listeners, report) else "warn",
        )
    )

    # instances: every instance behind the ALB (registered targets) or in its ECS capacity
    instances = snapshot.get("instances", {})
    instance_group_ids = sorted(
        {g for i in lb.get("instance_ids", []) for g in instances.get(i, {}).get("security_groups", [])}
    )
    instance_groups = _groups(snapshot, instance_group_ids, report, "the instances")
    if not lb.get("instance_ids"):
        report.rows.append(Row("internet", "instances", "no instances found behind this load balancer", "warn"))
        return

    # internet → instances, every protocol and port
    to_instances = evaluate(instance_groups, internet, prefix_lists, tcp_only=False)
    for text in to_instances.unevaluated:
        report.findings.append(
            Finding(
                "info",
                f"cannot evaluate {text}",
                "read the list's entries (aws ec2 get-managed-prefix-list-entries) and check them by hand",
            )
        )
    exposed = sorted({m.rule for m in to_instances.matches})
    report.rows.append(Row("internet", "instances", "; ".join(exposed) or "nothing", "bad" if exposed else "ok"))
    for match in to_instances.matches:
        shared = match.rule.split(" on ")[-1] in alb_ids
        report.findings.append(
            Finding(
                "high",
                f"the internet reaches the instances: {match.rule}"
                + (" (the ALB's own group is attached to the instances)" if shared else ""),
                "attach to the instances only their own group, whose single source is the ALB's group"
                if shared
                else f"remove the rule; the instances' only source must be the ALB's group ({', '.join(sorted(alb_ids))})",
            )
        )

    # other address ranges → instances
    private = [
        (g, p, v)
        for g in instance_groups
        for p in g.get("IpPermissions", [])
        for k, v in _sources(p, False)
        if k == "cidr" and not is_public(network(v))
    ]
    ranges = sorted({describe_rule(p, v, g["GroupId"]) for g, p, v in private})
    report.rows.append(
        Row("private address ranges", "instances", "; ".join(ranges) or "nothing", "warn" if ranges else "ok")
    )
    for text in ranges:
        report.findings.append(
            Finding(
                "medium",
                f"an address range reaches the instances around the ALB: {text}",
                "use the ALB's security group as the only source: anything in that range can bypass the load balancer",
            )
        )

    # ALB → instances (ingress side) and ALB egress
    from_alb = evaluate(instance_groups, alb_peer, prefix_lists)
    alb_ports = from_alb.ports({"group", "private range", "public range", "anyone"})
    report.rows.append(Row(f"ALB {name}", "instances", f"tcp {alb_ports}", "ok" if alb_ports else "bad"))
    wide = alb_ports - host_ports - Ports.of((t["port"], t["port"]) for t in lb.get("targets", []))
    if wide:
        report.findings.append(
            Finding(
                "medium",
                f"the instances accept {_ports_text(wide)} from the ALB beyond the dynamic host port range "
                f"{host_ports} that bridge-mode tasks use",
                f"allow only tcp {host_ports} (var.host_port_range) from the ALB's group",
            )
        )
    for match in from_alb.matches:
        if match.scope == "partial":
            report.findings.append(
                Finding(
                    "low",
                    f"{match.rule} covers only part of the ALB's subnets, so some ALB nodes may be refused",
                    "use the ALB's security group as the source instead of an address range",
                )
            )

    # each registered target, both directions, on its traffic and health-check port
    blocked, egress_blocked = {}, {}  # (instance, port) -> what uses the port
    for target in lb.get("targets", []):
        instance = instances.get(target["id"], {})
        groups = _groups(snapshot, instance.get("security_groups", []), report, "the instances")
        ports = {target["port"]: "port"}
        if str(target.get("health_check_port", "traffic-port")) not in ("traffic-port", str(target["port"])):
            ports[int(target["health_check_port"])] = "health-check port"
        allowed_in = evaluate(groups, alb_peer, prefix_lists).ports(
            {"group", "private range", "public range", "anyone"}
        )
        dest = Peer(
            target["id"],
            frozenset(instance.get("security_groups", [])),
            tuple(network(f"{a}/{32 if ':' not in a else 128}") for a in instance.get("private_ips", [])),
        )
        allowed_out = evaluate(alb_groups, dest, prefix_lists, egress=True).ports(
            {"group", "private range", "public range", "anyone"}
        )
        for port, use in sorted(ports.items()):
            if port not in allowed_in:
                blocked[(target["id"], port)] = use
            if port not in allowed_out:
                egress_blocked[(target["id"], port)] = use
    targets = lb.get("targets", [])
    failing = {
        (t["id"], t["port"])
        for t in targets
        if any(
            k[0] == t["id"] and (k[1] == t["port"] or use == "health-check port")
            for k, use in {**blocked, **egress_blocked}.items()
        )
    }
    n_ok = len(targets) - len(failing)
    report.rows.append(
        Row(
            f"ALB {name}",
            "registered targets",
            f"{n_ok} of {len(targets)} target ports allowed both ways"
            if targets
            else "no registered targets (the ALB answers 503)",
            "ok" if targets and n_ok == len(targets) else "bad" if targets else "warn",
        )
    )
    for (instance_id, port), use in sorted(blocked.items()):
        report.findings.append(
            Finding(
                "high",
                f"registered target {instance_id} {use} {port} is not allowed from the ALB's group on the "
                "instances' group → health checks time out, the target turns unhealthy → 503 (504 while the ALB fails open)",
                f"allow tcp {host_ports} (var.host_port_range) from the ALB's security group on the instances' group",
            )
        )
    for (instance_id, port), use in sorted(egress_blocked.items()):
        report.findings.append(
            Finding(
                "high",
                f"the ALB's group does not allow outbound tcp {port} to registered target {instance_id} "
                f"({use}) → requests and health checks never leave the ALB → 503/504",
                f"allow egress tcp {host_ports} from the ALB's group to the instances (their group or the VPC's range)",
            )
        )
    if not targets:
        report.findings.append(
            Finding(
                "medium",
                f"target groups behind {name} have no registered targets: the ALB answers 503",
                "check that the ECS service runs its tasks and is attached to the target group (notebook 06)",
            )
        )


def _ports_text(ports: Ports) -> str:
    return f"{'port' if len(ports) == 1 else 'ports'} {ports}"


def _listener_text(listener: dict) -> str:
    action = listener.get("action", {})
    if action.get("type") == "redirect":
        goal = f"redirect to {action.get('protocol', '#{protocol}')}:{action.get('port', '#{port}')}"
    elif action.get("type") == "forward":
        goal = f"forward to {', '.join(action.get('target_groups', [])) or 'no target group'}"
    else:
        goal = action.get("type", "?")
    policy = f" ({listener['ssl_policy']})" if listener.get("ssl_policy") else ""
    return f"{listener['protocol']}:{listener['port']}{policy} → {goal}"


def _listeners_findings(listeners: list[dict], report: Report) -> bool:
    """Add listener findings; True when the listeners are as they should be."""
    before = len(report.findings)
    if not any(l["protocol"] == "HTTPS" for l in listeners):
        report.findings.append(
            Finding(
                "medium",
                "no HTTPS listener: traffic to the ALB is not encrypted",
                "add an HTTPS listener on 443 with an ACM certificate (notebook 04)",
            )
        )
    for l in listeners:
        action = l.get("action", {})
        if l["protocol"] == "HTTP" and action.get("type") == "forward":
            report.findings.append(
                Finding(
                    "medium",
                    f"listener HTTP:{l['port']} forwards plain HTTP to the targets",
                    "make its default action a redirect to HTTPS:443 (HTTP_301)",
                )
            )
        if (
            l["protocol"] == "HTTP"
            and action.get("type") == "redirect"
            and action.get("protocol") not in ("HTTPS", None)
        ):
            report.findings.append(
                Finding(
                    "medium",
                    f"listener HTTP:{l['port']} redirects, but not to HTTPS",
                    "redirect to protocol HTTPS, port 443",
                )
            )
        if action.get("type") == "forward" and not action.get("target_groups"):
            report.findings.append(
                Finding(
                    "high",
                    f"listener {l['protocol']}:{l['port']} forwards to no target group",
                    "forward to the service's target group (notebook 05)",
                )
            )
        policy = l.get("ssl_policy") or ""
        if l["protocol"] == "HTTPS" and policy and not any(k in policy for k in ("TLS13", "TLS-1-2", "FS-1-2")):
            report.findings.append(
                Finding(
                    "low",
                    f"listener HTTPS:{l['port']} uses {policy}, which still accepts TLS 1.0/1.1",
                    "use ELBSecurityPolicy-TLS13-1-2-2021-06",
                )
            )
    return len(report.findings) == before


# ---------------------------------------------------------------- collection (boto3)


def _tag_map(tags) -> dict:
    return {t["Key"]: t["Value"] for t in tags or []}


def collect(learner: str | None = None, *, instance_groups: list[str] | None = None) -> dict:
    """Read everything the audit needs for the course's load balancers (tag course=ecs-alb[, learner]).

    ``instance_groups`` replaces the instances' security groups in the snapshot: a what-if
    ("what would the internet reach if the instances were in these groups?"), nothing is changed.
    """
    from . import aws
    from .inventory import COURSE_TAG

    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    balancers = [lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb.get("Type") == "application"]
    tags = {}
    for start in range(0, len(balancers), 20):
        for d in elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"] for lb in balancers[start : start + 20]])[
            "TagDescriptions"
        ]:
            tags[d["ResourceArn"]] = _tag_map(d["Tags"])
    chosen = [
        lb
        for lb in balancers
        if tags.get(lb["LoadBalancerArn"], {}).get(COURSE_TAG[0]) == COURSE_TAG[1]
        and (learner is None or tags[lb["LoadBalancerArn"]].get("learner") == learner)
    ]
    snapshot = {
        "title": f"Reachability audit{f' (learner: {learner})' if learner else ''}",
        "load_balancers": [],
        "instances": {},
        "security_groups": {},
        "prefix_lists": {},
    }
    group_ids = set()
    capacity = _course_instances(learner) if chosen else []
    for lb in sorted(chosen, key=lambda lb: lb["LoadBalancerName"]):
        subnets = ec2.describe_subnets(SubnetIds=[z["SubnetId"] for z in lb["AvailabilityZones"]])["Subnets"]
        cidrs = sorted(s["CidrBlock"] for s in subnets) + sorted(
            a["Ipv6CidrBlock"] for s in subnets for a in s.get("Ipv6CidrBlockAssociationSet", [])
        )
        entry = {
            "name": lb["LoadBalancerName"],
            "security_groups": sorted(lb.get("SecurityGroups", [])),
            "subnet_cidrs": cidrs,
            "listeners": [],
            "targets": [],
            "instance_ids": [],
        }
        target_groups = {}
        for listener in sorted(
            elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"], key=lambda l: l["Port"]
        ):
            actions = list(listener["DefaultActions"])
            for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
                if not rule["IsDefault"]:
                    actions += rule["Actions"]
            action = next((a for a in actions if a["Type"] == "forward"), actions[0] if actions else {})
            arns = (
                [action["TargetGroupArn"]]
                if action.get("TargetGroupArn")
                else [t["TargetGroupArn"] for t in action.get("ForwardConfig", {}).get("TargetGroups", [])]
            )
            for arn in arns:
                target_groups[arn] = None
            redirect = action.get("RedirectConfig", {})
            entry["listeners"].append(
                {
                    "port": listener["Port"],
                    "protocol": listener["Protocol"],
                    # moto reports a policy on HTTP listeners too; AWS only on HTTPS/TLS ones
                    "ssl_policy": listener.get("SslPolicy") if listener["Protocol"] in ("HTTPS", "TLS") else None,
                    "action": {
                        "type": action.get("Type", "none"),
                        "target_groups": sorted(a.split("/")[-2] for a in arns),
                        **({"protocol": redirect.get("Protocol"), "port": redirect.get("Port")} if redirect else {}),
                    },
                }
            )
        for arn in sorted(target_groups):
            tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
            for t in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]:
                entry["targets"].append(
                    {
                        "id": t["Target"]["Id"],
                        "port": t["Target"].get("Port", tg.get("Port")),
                        "health_check_port": tg.get("HealthCheckPort", "traffic-port"),
                        "target_group": tg["TargetGroupName"],
                    }
                )
        entry["targets"].sort(key=lambda t: (t["id"], t["port"]))
        # The instances behind it: registered targets, plus the course's Auto Scaling instances (ECS
        # capacity), so an exposed instance is found even before ECS registers anything.
        entry["instance_ids"] = sorted({t["id"] for t in entry["targets"] if t["id"].startswith("i-")} | set(capacity))
        group_ids.update(entry["security_groups"])
        snapshot["load_balancers"].append(entry)
    ids = sorted({i for lb in snapshot["load_balancers"] for i in lb["instance_ids"]})
    if ids:
        for reservation in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
            for instance in reservation["Instances"]:
                groups = instance_groups or sorted(g["GroupId"] for g in instance.get("SecurityGroups", []))
                ips = [
                    a["PrivateIpAddress"]
                    for n in instance.get("NetworkInterfaces", [])
                    for a in n.get("PrivateIpAddresses", [])
                ] or [instance.get("PrivateIpAddress")]
                snapshot["instances"][instance["InstanceId"]] = {
                    "security_groups": groups,
                    "private_ips": sorted(ip for ip in ips if ip),
                }
                group_ids.update(groups)
    if group_ids:
        for group in ec2.describe_security_groups(GroupIds=sorted(group_ids))["SecurityGroups"]:
            snapshot["security_groups"][group["GroupId"]] = group
    for group in snapshot["security_groups"].values():
        for permission in group.get("IpPermissions", []) + group.get("IpPermissionsEgress", []):
            for r in permission.get("PrefixListIds", []):
                pid = r.get("PrefixListId")
                if pid and pid not in snapshot["prefix_lists"]:
                    snapshot["prefix_lists"][pid] = _prefix_list_entries(ec2, pid)
    return snapshot


def _course_instances(learner: str | None) -> list[str]:
    from . import aws
    from .inventory import COURSE_TAG

    found = []
    for group in aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]:
        tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
        if tags.get(COURSE_TAG[0]) == COURSE_TAG[1] and (learner is None or tags.get("learner") == learner):
            found += [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    return found


def _prefix_list_entries(ec2, prefix_list_id: str) -> list[str] | None:
    try:
        entries = ec2.get_managed_prefix_list_entries(PrefixListId=prefix_list_id)["Entries"]
    except Exception:  # noqa: BLE001 - no permission, not supported: reported as "cannot evaluate"
        return None
    return [e["Cidr"] for e in entries]


def run(
    learner: str | None = None,
    *,
    instance_groups: list[str] | None = None,
    host_port_range: tuple[int, int] | None = None,
) -> Report:
    """Collect live and analyse: the function the notebooks call.

    ``learner`` defaults to this workspace's learner name; ``host_port_range`` to
    32768-65535, the default of the stack's ``var.host_port_range`` (pass yours if you changed it).
    """
    from . import course

    learner = learner or course.learner()
    report = analyse(collect(learner, instance_groups=instance_groups), host_port_range or HOST_PORT_RANGE)
    if instance_groups:
        report.title += f" · what if the instances were in {', '.join(instance_groups)}"
    return report


def draw(report: Report, folder) -> Path:
    """Draw the matrix: internet → ALB → instances, and the path that must not exist."""
    from .audit_diagram import draw_report

    return draw_report(report, folder)


def main(learner: str | None, as_json: bool, host_port_range: tuple[int, int] | None = None) -> int:
    import contextlib
    import sys

    with contextlib.redirect_stdout(
        sys.stderr if as_json else sys.stdout
    ):  # notes (e.g. emulator start) stay out of JSON
        report = run(learner, host_port_range=host_port_range)
    print(json.dumps(report.to_dict(), indent=2) if as_json else report.text())
    return 0 if report.ok else 1
