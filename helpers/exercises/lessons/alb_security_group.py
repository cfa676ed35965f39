"""The ALB's security group: 443 and 80 in from the internet, out only to the instances' dynamic ports."""

from __future__ import annotations

from ...runtime import aws
from ...verify.ports import HOST_PORT_RANGE
from ...verify.sg_rules import tcp_applies
from ..feedback import (
    ANYWHERE,
    EVERY_PORT,
    Feedback,
    cidrs,
    covers,
    port_text,
    run_check,
    span,
    state_resource,
)


def diagnose_alb_security_group(
    group: dict, vpc_cidr: str = "10.0.0.0/16", host_range: tuple[int, int] = HOST_PORT_RANGE
) -> list[str]:
    """``group``: the ALB's group as describe_security_groups returns it."""
    problems = []
    internet = {}
    for p in group.get("IpPermissions", []):
        for cidr in cidrs(p):
            internet.setdefault(cidr, []).append(span(p))
    for cidr, ranges in sorted(internet.items()):
        for low, high in sorted(ranges):
            if (low, high) in ((443, 443), (80, 80)):
                continue
            if low <= 22 <= high:
                why = "SSH (port 22)"
            elif high >= host_range[0] and low <= host_range[1]:
                why = "the instances' dynamic (ephemeral) port range"
            else:
                why = "a port the ALB has no listener on"
            problems.append(
                f"the ALB's security group opens {port_text(low, high)} to {cidr}: {why}. The internet "
                "needs 443 and 80 only; remove that rule."
            )
    from_anywhere = [r for cidr in ANYWHERE[:1] for r in internet.get(cidr, [])]
    for port, role in ((443, "HTTPS"), (80, "HTTP, so that the ALB can redirect it to HTTPS")):
        if not any(low <= port <= high for low, high in from_anywhere):
            problems.append(f"port {port} is not open to 0.0.0.0/0: browsers need it for {role}.")
    egress = [p for p in group.get("IpPermissionsEgress", []) if tcp_applies(p)]
    if not egress:
        problems.append(
            "the group has no egress rule: Terraform removes AWS's allow-all egress, so the ALB could "
            "not open a single connection to a target (every target unhealthy, every request an error)."
        )
    else:
        ranges = [span(p) for p in egress]
        if not covers(ranges, *host_range):
            allowed = ", ".join(port_text(a, b) for a, b in sorted(ranges))
            problems.append(
                f"egress allows {allowed}, but the targets sit on the dynamic host ports "
                f"{host_range[0]}-{host_range[1]} (hostPort 0): the ALB must be allowed out to all of "
                "them, with the same variable as the instances' rule."
            )
        wide = sorted({c for p in egress for c in cidrs(p) if c in ANYWHERE})
        if wide:
            problems.append(
                f"egress goes to {', '.join(wide)}: the targets are inside the VPC, so the "
                f"destination is the VPC's range ({vpc_cidr}), nothing wider."
            )
        if any(span(p) == EVERY_PORT for p in egress):
            problems.append("egress allows every port: only the targets' dynamic host ports are needed.")
    return problems


def alb_security_group() -> Feedback:
    """Exercise 03: 443 and 80 from anywhere, nothing else in; out only to the dynamic ports in the VPC."""

    def gather():
        group_id = state_resource("aws_security_group.alb", "The ALB's security group")["id"]
        vpc = state_resource("aws_vpc.main", "The VPC")
        group = aws.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        return {"group": group, "vpc_cidr": vpc["cidr_block"]}

    return run_check(
        "03 ALB security group",
        gather,
        diagnose_alb_security_group,
        "the internet reaches the ALB on 443 and 80 only; the ALB goes out only to the dynamic host "
        "ports, inside the VPC.",
    )
