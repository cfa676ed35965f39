"""The target group and the listener rule."""

from __future__ import annotations

from ...runtime import aws
from ..feedback import Feedback, run_check, state_resource


def diagnose_target_group(group: dict, rules: list[dict], load_balancer_arn: str) -> list[str]:
    """``group``: describe_target_groups' entry; ``rules``: describe_rules of the HTTPS listener."""
    problems = []
    if group.get("TargetType") != "instance":
        problems.append(
            f"the target group's target type is {group.get('TargetType')}: in bridge mode a task has no "
            "IP address of its own, and ECS registers (instance, host port) pairs, so the type is "
            "instance."
        )
    if group.get("Protocol") != "HTTP":
        problems.append(
            f"the target group's protocol is {group.get('Protocol')}: nginx in the task speaks plain "
            "HTTP; TLS ends at the ALB's HTTPS listener."
        )
    port = group.get("HealthCheckPort")
    if port != "traffic-port":
        problems.append(
            f"health checks go to port {port}: with dynamic host ports nothing listens there on the "
            "instance, so every target would fail. Check each target on the port it was registered "
            "with (traffic-port)."
        )
    if group.get("HealthCheckProtocol") not in (None, "HTTP"):
        problems.append(f"health checks use {group.get('HealthCheckProtocol')}: the targets answer plain HTTP.")
    forwards = [a for r in rules if not r.get("IsDefault") for a in r.get("Actions", []) if a.get("Type") == "forward"]
    to_group = [
        a
        for a in forwards
        if a.get("TargetGroupArn") == group["TargetGroupArn"]
        or any(
            t.get("TargetGroupArn") == group["TargetGroupArn"]
            for t in (a.get("ForwardConfig") or {}).get("TargetGroups", [])
        )
    ]
    if not forwards:
        kinds = sorted({a.get("Type") for r in rules if not r.get("IsDefault") for a in r.get("Actions", [])})
        problems.append(
            "the HTTPS listener forwards to no target group: "
            + (f"its rule's action is {', '.join(kinds)}. " if kinds else "it has no rule besides the default 404. ")
            + "The rule's action must forward to the target group."
        )
    elif not to_group:
        problems.append("the listener rule forwards to another target group, not to this one.")
    if load_balancer_arn not in group.get("LoadBalancerArns", []):
        problems.append(
            "the target group belongs to no load balancer yet: ECS refuses a group no listener or "
            "rule forwards to (the rule is what associates it)."
        )
    return problems


def target_group() -> Feedback:
    """Exercise 05: an instance-type HTTP group checked on traffic-port, forwarded to by the HTTPS listener."""

    def gather():
        arn = state_resource("aws_lb_target_group.web", "The target group")["arn"]
        elbv2 = aws.client("elbv2")
        listener = state_resource("aws_lb_listener.https", "The HTTPS listener")["arn"]
        return {
            "group": elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0],
            "rules": elbv2.describe_rules(ListenerArn=listener)["Rules"],
            "load_balancer_arn": state_resource("aws_lb.main", "The load balancer")["arn"],
        }

    return run_check(
        "05 target group",
        gather,
        diagnose_target_group,
        "targets by instance over HTTP, health checks on each target's own port, and the HTTPS "
        "listener forwards to the group.",
    )
