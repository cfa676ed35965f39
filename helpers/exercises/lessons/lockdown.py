"""Locking the instances down: the dynamic ports from the ALB's group only."""

from __future__ import annotations

from ... import course, lab
from ...runtime import aws
from ...verify import sg_rules
from ...verify.ports import HOST_PORT_RANGE
from ..feedback import (
    ANYWHERE,
    EVERY_PORT,
    Feedback,
    NotYet,
    cidrs,
    covers,
    port_text,
    run_check,
    span,
    state_resource,
)


def diagnose_lockdown(
    instance_group: dict,
    alb_group_id: str,
    target_ports: list[int],
    host_range: tuple[int, int] = HOST_PORT_RANGE,
    site: tuple[int, float] | None = None,
    failing: list[tuple[str, int]] = (),
) -> list[str]:
    """``instance_group``: the instances' group (describe_security_groups); ``target_ports``: registered ports.

    With the traffic lab, ``site`` is a real request's (status, seconds) and ``failing`` the (instance, port)
    of the unhealthy targets: when the rules are wrong, the learner first reads what the site does.
    """
    problems = _rule_problems(instance_group, alb_group_id, target_ports, host_range)
    if problems and site is not None and site[0] != 200:
        status, seconds = site
        where = ", ".join(f"port {port} on {instance}" for instance, port in failing) or "its targets"
        problems.insert(
            0,
            f"your site answers {status or 'nothing'} (a real request through the lab, after {seconds:.0f} s): "
            f"the ALB cannot reach {where}.",
        )
    return problems


def _rule_problems(
    instance_group: dict, alb_group_id: str, target_ports: list[int], host_range: tuple[int, int]
) -> list[str]:
    problems = []
    for p in instance_group.get("IpPermissions", []):
        low, high = span(p)
        for cidr in cidrs(p):
            who = "the whole internet" if cidr in ANYWHERE else "that address range"
            problems.append(
                f"the instances' security group still allows {cidr} on {port_text(low, high)}: "
                f"{who} can reach the instances without the ALB. Remove it: the only source is the "
                "ALB's security group."
            )
        others = sorted({pair.get("GroupId") for pair in p.get("UserIdGroupPairs", [])} - {alb_group_id})
        for other in others:
            problems.append(
                f"the instances' security group lets group {other} in on {port_text(low, high)}: the "
                "source must be the ALB's security group, and only it."
            )
    from_alb = [
        span(p)
        for p in instance_group.get("IpPermissions", [])
        if sg_rules.tcp_applies(p)
        and any(pair.get("GroupId") == alb_group_id for pair in p.get("UserIdGroupPairs", []))
    ]
    ports = sorted(set(target_ports)) or list(host_range)
    blocked = [port for port in ports if not any(a <= port <= b for a, b in from_alb)]
    if not from_alb:
        problems.append(
            "no rule lets the ALB's security group in: every health check and request to the targets "
            "is dropped: the targets turn unhealthy, the ALB fails open and answers 504 after 10 s (503 "
            "whenever no target is registered), and ECS keeps replacing the tasks."
        )
    elif from_alb == [(80, 80)] or (blocked and any(a <= 80 <= b for a, b in from_alb)):
        problems.append(
            f"the instances accept only {', '.join(port_text(a, b) for a, b in from_alb)} from the ALB, "
            f"but the targets are registered on {', '.join(map(str, ports))}: with hostPort 0 Docker "
            "publishes nginx on a dynamic host port, port 80 is only inside the container. Health checks "
            "time out, the ALB answers 504 after 10 s (503 whenever no target is registered) and ECS keeps "
            "replacing the tasks (the source article's bug). Allow "
            "the dynamic host port range from the ALB's group."
        )
    elif blocked:
        problems.append(
            f"the rule from the ALB allows {', '.join(port_text(a, b) for a, b in from_alb)}, which "
            f"leaves target port(s) {', '.join(map(str, blocked))} blocked: use the whole dynamic range, "
            "the same variable as the ALB's egress rule."
        )
    elif not covers(from_alb, *host_range):
        problems.append(
            f"the rule from the ALB allows {', '.join(port_text(a, b) for a, b in from_alb)}: today's "
            f"targets fit, but the next task may get any port in {host_range[0]}-{host_range[1]}."
        )
    if any(
        span(p) == EVERY_PORT
        for p in instance_group.get("IpPermissions", [])
        if any(pair.get("GroupId") == alb_group_id for pair in p.get("UserIdGroupPairs", []))
    ):
        problems.append(
            "the ALB's group may reach every port of the instances: anything later put in that group "
            "could reach SSH or the Docker daemon. Allow the dynamic host port range only."
        )
    return problems


def option_1_exposure() -> None:
    """What option 1 (the instances in the ALB's own group) would open to address ranges."""
    try:
        group_id = state_resource("aws_security_group.alb", "The ALB's security group")["id"]
    except NotYet as missing:
        print(f"Skipped: {missing}")
        return
    group = aws.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    print("Option 1 would let the internet reach the instances on:")
    for rule in sg_rules.cidr_ingress(group):
        print("  ", rule)


def lockdown() -> Feedback:
    """Exercise 07: the instances accept the dynamic host ports from the ALB's group, and nothing else."""

    def gather():
        instance_group_id = state_resource("aws_security_group.instances", "The instances' security group")["id"]
        alb_group_id = state_resource("aws_security_group.alb", "The ALB's security group")["id"]
        state_resource("aws_security_group_rule.instances_from_alb", "The instances' inbound rule")
        egress = course.state_resources().get("aws_security_group_rule.alb_to_targets") or {}
        host_range = (egress.get("from_port", HOST_PORT_RANGE[0]), egress.get("to_port", HOST_PORT_RANGE[1]))
        group = aws.client("ec2").describe_security_groups(GroupIds=[instance_group_id])["SecurityGroups"][0]
        registered = aws.client("elbv2").describe_target_health(
            TargetGroupArn=state_resource("aws_lb_target_group.web", "The target group")["arn"]
        )["TargetHealthDescriptions"]
        found = {
            "instance_group": group,
            "alb_group_id": alb_group_id,
            "host_range": host_range,
            "target_ports": [t["Target"]["Port"] for t in registered],
        }
        if lab.running():  # a real request, as a user would make it
            reply = lab.curl(f"https://{state_resource('aws_lb.main', 'The load balancer')['dns_name']}/")
            found["site"] = (reply.status, reply.elapsed)
            found["failing"] = [
                (t["Target"]["Id"], t["Target"]["Port"])
                for t in registered
                if t["TargetHealth"]["State"] == "unhealthy"
            ]
        return found

    return run_check(
        "07 lock the instances down",
        gather,
        diagnose_lockdown,
        "the instances accept the dynamic host ports from the ALB's security group, and nothing from "
        "any address range.",
    )
