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

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..ports import HOST_PORT_RANGE, NO_PORTS, Ports
from ..rules import ALL, CIDR, GROUP, PREFIX_LIST, Rule, parse_group
from .addresses import contains, is_public, network, overlaps
from .listeners import listener_findings, listener_text
from .report import Finding, Report, Row

# ---------------------------------------------------------------- rule matching


@dataclass(frozen=True)
class Peer:
    """Who sends the traffic: the internet, or interfaces with security groups and addresses."""

    name: str
    groups: frozenset = frozenset()
    networks: tuple = ()  # where its addresses come from (e.g. the ALB's subnets)
    internet: bool = False  # any public address


def on_group(rule: Rule, group_id: str) -> str:
    """A rule as the audit prints it: its text and the group that holds it."""
    return f"{rule.text()} on {group_id}"


@dataclass
class Match:
    """A rule that lets the peer through: on which ports, what of the peer it matched, how widely."""

    ports: Ports
    rule: Rule
    group_id: str  # the group that holds the rule
    source: str  # what matched: "0.0.0.0/0", "sg-…", or a prefix list's entry
    scope: str  # "anyone", "public range", "private range", "group", "partial"

    @property
    def text(self) -> str:
        """The rule on its group; for a prefix list, with the entry that matched."""
        text = on_group(self.rule, self.group_id)
        return f"{text} ({self.source})" if self.rule.peer_kind == PREFIX_LIST else text


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
    for group in groups:
        gid = group["GroupId"]
        for rule in parse_group(group, egress):
            ports = rule.tcp_ports if tcp_only else rule.ports
            if not ports:
                continue
            if rule.peer_kind == GROUP:
                if rule.peer in peer.groups:
                    result.matches.append(Match(ports, rule, gid, rule.peer, "group"))
                continue
            cidrs = [rule.peer] if rule.peer_kind == CIDR else prefix_lists.get(rule.peer)
            if cidrs is None:
                result.unevaluated.append(
                    f"{on_group(rule, gid)}: the entries of prefix list {rule.peer} could not be read, so "
                    "this rule was not evaluated"
                )
                continue
            for cidr in cidrs:
                scope = _scope(network(cidr), peer)
                if scope:
                    result.matches.append(Match(ports, rule, gid, cidr, scope))
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

REACHES = {"group", "private range", "public range", "anyone"}  # every scope but "partial"
INTERNET = Peer("the internet", internet=True)


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
        _analyse_balancer(Balancer.read(snapshot, lb, report, Ports.of([host_port_range])), report)
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


@dataclass(frozen=True)
class Balancer:
    """One load balancer of a snapshot, with what each of its checks reads."""

    snapshot: dict
    lb: dict  # the snapshot's entry for it
    groups: list[dict]  # its security groups, as described
    peer: Peer  # the ALB as a sender: its groups and its subnets' ranges
    host_ports: Ports  # the dynamic host port range bridge-mode tasks use

    @classmethod
    def read(cls, snapshot: dict, lb: dict, report: Report, host_ports: Ports) -> Balancer:
        """The load balancer ``lb`` of ``snapshot``; a finding in ``report`` for each group not read."""
        groups = _groups(snapshot, lb.get("security_groups", []), report, f"load balancer {lb['name']}")
        peer = Peer(
            f"load balancer {lb['name']}",
            frozenset(lb.get("security_groups", [])),
            tuple(network(c) for c in lb.get("subnet_cidrs", [])),
        )
        return cls(snapshot, lb, groups, peer, host_ports)

    @property
    def name(self) -> str:
        return self.lb["name"]

    @property
    def group_ids(self) -> set[str]:
        return {g["GroupId"] for g in self.groups}

    @property
    def prefix_lists(self) -> dict:
        return self.snapshot.get("prefix_lists", {})

    def evaluate(self, groups: list[dict], peer: Peer, **how) -> Evaluation:
        """``evaluate`` with the snapshot's prefix lists (``how``: egress, tcp_only)."""
        return evaluate(groups, peer, self.prefix_lists, **how)


def _analyse_balancer(alb: Balancer, report: Report) -> None:
    """Each path to and from one load balancer, in the order the report shows them."""
    _internet_to_alb(alb, report)
    _listeners(alb, report)
    instance_groups = _instance_groups(alb, report)
    if not alb.lb.get("instance_ids"):
        report.rows.append(Row("internet", "instances", "no instances found behind this load balancer", "warn"))
        return
    _internet_to_instances(alb, instance_groups, report)
    _address_ranges_to_instances(instance_groups, report)
    _alb_to_instances(alb, instance_groups, report)
    _registered_targets(alb, report)


def _unevaluated(evaluation: Evaluation, report: Report) -> None:
    """A finding for each prefix-list rule whose entries could not be read."""
    for text in evaluation.unevaluated:
        report.findings.append(
            Finding(
                "info",
                f"cannot evaluate {text}",
                "read the list's entries (aws ec2 get-managed-prefix-list-entries) and check them by hand",
            )
        )


def _internet_to_alb(alb: Balancer, report: Report) -> None:
    """internet → ALB: the ALB's group against its listeners' ports."""
    evaluation = alb.evaluate(alb.groups, INTERNET)
    _unevaluated(evaluation, report)
    listeners = alb.lb.get("listeners", [])
    listener_ports = Ports.of((lst["port"], lst["port"]) for lst in listeners)
    open_to_all = evaluation.ports({"anyone"})
    open_to_some = evaluation.ports({"anyone", "public range"})
    extra = open_to_some - listener_ports
    closed = listener_ports - open_to_some
    verdict = "warn" if extra or closed else "ok"
    shown = (
        str(open_to_all)
        if open_to_all == open_to_some
        else f"{open_to_all} (anyone), {open_to_some - open_to_all} (part of it)"
    )
    report.rows.append(Row("internet", f"ALB {alb.name}", f"tcp {shown}", verdict))
    for match in evaluation.matches:
        stray = match.ports - listener_ports
        if stray:
            report.findings.append(
                Finding(
                    "medium",
                    f"{match.text}: {_ports_text(stray)} open to "
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


def _listeners(alb: Balancer, report: Report) -> None:
    """The listeners: what each does, and their findings (listeners.py)."""
    listeners = alb.lb.get("listeners", [])
    report.rows.append(
        Row(
            "internet",
            f"listeners of {alb.name}",
            "; ".join(listener_text(lst) for lst in listeners) or "none",
            "ok" if listener_findings(listeners, report) else "warn",
        )
    )


def _instance_groups(alb: Balancer, report: Report) -> list[dict]:
    """The groups of every instance behind the ALB (registered targets) or in its ECS capacity."""
    instances = alb.snapshot.get("instances", {})
    ids = sorted({g for i in alb.lb.get("instance_ids", []) for g in instances.get(i, {}).get("security_groups", [])})
    return _groups(alb.snapshot, ids, report, "the instances")


def _internet_to_instances(alb: Balancer, instance_groups: list[dict], report: Report) -> None:
    """internet → instances, every protocol and port: any match is a finding."""
    to_instances = alb.evaluate(instance_groups, INTERNET, tcp_only=False)
    _unevaluated(to_instances, report)
    exposed = sorted({m.text for m in to_instances.matches})
    report.rows.append(Row("internet", "instances", "; ".join(exposed) or "nothing", "bad" if exposed else "ok"))
    alb_ids = alb.group_ids
    for match in to_instances.matches:
        shared = match.group_id in alb_ids
        report.findings.append(
            Finding(
                "high",
                f"the internet reaches the instances: {match.text}"
                + (" (the ALB's own group is attached to the instances)" if shared else ""),
                "attach to the instances only their own group, whose single source is the ALB's group"
                if shared
                else f"remove the rule; the instances' only source must be the ALB's group ({', '.join(sorted(alb_ids))})",
            )
        )


def _address_ranges_to_instances(instance_groups: list[dict], report: Report) -> None:
    """Other (private) address ranges → instances: a way around the ALB."""
    ranges = sorted(
        {
            on_group(rule, g["GroupId"])
            for g in instance_groups
            for rule in parse_group(g)
            if rule.peer_kind == CIDR and not is_public(network(rule.peer))
        }
    )
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


def _alb_to_instances(alb: Balancer, instance_groups: list[dict], report: Report) -> None:
    """ALB → instances (ingress side): the dynamic host ports, TCP only, from the ALB's group."""
    host_ports = alb.host_ports
    from_alb = alb.evaluate(instance_groups, alb.peer)
    alb_ports = from_alb.ports(REACHES)
    report.rows.append(Row(f"ALB {alb.name}", "instances", f"tcp {alb_ports}", "ok" if alb_ports else "bad"))
    wide = alb_ports - host_ports - Ports.of((t["port"], t["port"]) for t in alb.lb.get("targets", []))
    every_protocol = sorted(
        m.text for m in alb.evaluate(instance_groups, alb.peer, tcp_only=False).matches if m.rule.protocol == ALL
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
                    f"{match.text} covers only part of the ALB's subnets, so some ALB nodes may be refused",
                    "use the ALB's security group as the source instead of an address range",
                )
            )


def _blocked_target_ports(alb: Balancer, report: Report) -> tuple[dict, dict]:
    """(instance, port) → what uses the port ("port", "health-check port"), for each registered target's
    traffic and health-check port that the instances' groups do not let in, and that the ALB's do not let out."""
    instances = alb.snapshot.get("instances", {})
    blocked, egress_blocked = {}, {}
    for target in alb.lb.get("targets", []):
        instance = instances.get(target["id"], {})
        groups = _groups(alb.snapshot, instance.get("security_groups", []), report, "the instances")
        ports = {target["port"]: "port"}
        if str(target.get("health_check_port", "traffic-port")) not in ("traffic-port", str(target["port"])):
            ports[int(target["health_check_port"])] = "health-check port"
        allowed_in = alb.evaluate(groups, alb.peer).ports(REACHES)
        dest = Peer(
            target["id"],
            frozenset(instance.get("security_groups", [])),
            tuple(network(f"{a}/{32 if ':' not in a else 128}") for a in instance.get("private_ips", [])),
        )
        allowed_out = alb.evaluate(alb.groups, dest, egress=True).ports(REACHES)
        for port, use in sorted(ports.items()):
            if port not in allowed_in:
                blocked[(target["id"], port)] = use
            if port not in allowed_out:
                egress_blocked[(target["id"], port)] = use
    return blocked, egress_blocked


def _registered_targets(alb: Balancer, report: Report) -> None:
    """Each registered target, both directions, on its traffic and health-check port."""
    host_ports = alb.host_ports
    blocked, egress_blocked = _blocked_target_ports(alb, report)
    targets = alb.lb.get("targets", [])
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
            f"ALB {alb.name}",
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
                f"target groups behind {alb.name} have no registered targets: the ALB answers 503",
                "check that the ECS service runs its tasks and is attached to the target group (notebook 06)",
            )
        )


def _ports_text(ports: Ports) -> str:
    return f"{'port' if len(ports) == 1 else 'ports'} {ports}"
