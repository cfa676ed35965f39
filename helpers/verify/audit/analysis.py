"""The audit's analysis: a snapshot's security-group rules evaluated as the VPC does. Pure: no AWS call.

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

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from ...errors import CourseError
from ..ports import HOST_PORT_RANGE, NO_PORTS, Ports, protocol, rule_ports, tcp_ports
from .report import Finding, Report, Row

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


# ---------------------------------------------------------------- analysis


def analyse(snapshot: dict, host_port_range: tuple[int, int] = HOST_PORT_RANGE) -> Report:
    """Evaluate a snapshot (``collect()``'s shape) into a report. Pure: no AWS calls."""
    report = Report(title=snapshot.get("title", "Reachability audit"))
    for text, fix in snapshot.get("notes", []):
        report.findings.append(Finding("info", text, fix))
    balancers = snapshot.get("load_balancers", [])
    if not balancers and snapshot.get("notes"):
        return report
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
    listener_ports = Ports.of((lst["port"], lst["port"]) for lst in listeners)
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
            "; ".join(_listener_text(lst) for lst in listeners) or "none",
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
    every_protocol = sorted(
        m.rule
        for m in evaluate(instance_groups, alb_peer, prefix_lists, tcp_only=False).matches
        if m.rule.startswith("all traffic")
    )
    if every_protocol:
        report.findings.append(
            Finding(
                "medium",
                f"the instances accept every protocol and port from the ALB: {'; '.join(every_protocol)}",
                f"allow only tcp {host_ports} (var.host_port_range) from the ALB's group: the ALB sends nothing but TCP "
                "to its targets, and anything else attached to the ALB's group would reach SSH, the Docker daemon and the agent",
            )
        )
    elif wide:
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
                "instances' group → health checks time out, the target turns unhealthy → while every registered "
                "target is unhealthy the ALB fails open and answers 504 after 10 s; with none registered, 503",
                f"allow tcp {host_ports} (var.host_port_range) from the ALB's security group on the instances' group",
            )
        )
    for (instance_id, port), use in sorted(egress_blocked.items()):
        report.findings.append(
            Finding(
                "high",
                f"the ALB's group does not allow outbound tcp {port} to registered target {instance_id} "
                f"({use}) → health checks and requests time out → 504 after 10 s; with none registered, 503",
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
    if not any(lst["protocol"] == "HTTPS" for lst in listeners):
        report.findings.append(
            Finding(
                "medium",
                "no HTTPS listener: traffic to the ALB is not encrypted",
                "add an HTTPS listener on 443 with an ACM certificate (notebook 04)",
            )
        )
    for listener in listeners:
        action = listener.get("action", {})
        if listener["protocol"] == "HTTP" and action.get("type") == "forward":
            report.findings.append(
                Finding(
                    "medium",
                    f"listener HTTP:{listener['port']} forwards plain HTTP to the targets",
                    "make its default action a redirect to HTTPS:443 (HTTP_301)",
                )
            )
        if (
            listener["protocol"] == "HTTP"
            and action.get("type") == "redirect"
            and action.get("protocol") not in ("HTTPS", None)
        ):
            report.findings.append(
                Finding(
                    "medium",
                    f"listener HTTP:{listener['port']} redirects, but not to HTTPS",
                    "redirect to protocol HTTPS, port 443",
                )
            )
        if action.get("type") == "forward" and not action.get("target_groups"):
            report.findings.append(
                Finding(
                    "high",
                    f"listener {listener['protocol']}:{listener['port']} forwards to no target group",
                    "forward to the service's target group (notebook 05)",
                )
            )
        policy = listener.get("ssl_policy") or ""
        if listener["protocol"] == "HTTPS" and policy and not any(k in policy for k in ("TLS13", "TLS-1-2", "FS-1-2")):
            report.findings.append(
                Finding(
                    "low",
                    f"listener HTTPS:{listener['port']} uses {policy}, which still accepts TLS 1.0/1.1",
                    "use ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09, the policy AWS recommends",
                )
            )
    return len(report.findings) == before
