"""The load balancer and its listeners: HTTPS with a modern policy, HTTP redirected."""

from __future__ import annotations

from ...runtime import aws
from ..feedback import Feedback, run_check, state_resource

# Predefined ALB policies that accept TLS 1.2 and newer only (TLS 1.3 only: TLS13-1-3-*).
MODERN_TLS = (
    "ELBSecurityPolicy-TLS13-1-2",
    "ELBSecurityPolicy-TLS13-1-3",
    "ELBSecurityPolicy-TLS-1-2",
    "ELBSecurityPolicy-FS-1-2",
)


def diagnose_listeners(
    load_balancer: dict, listeners: list[dict], alb_group_id: str, certificate: dict | None = None
) -> list[str]:
    problems = []
    if load_balancer.get("Scheme") != "internet-facing":
        problems.append(
            f"the load balancer is {load_balancer.get('Scheme')}: browsers on the internet cannot "
            "reach it. It must be internet-facing (internal = false)."
        )
    if load_balancer.get("SecurityGroups") != [alb_group_id]:
        problems.append(
            f"the load balancer uses security groups {load_balancer.get('SecurityGroups')}, not only "
            "the ALB's group from notebook 03."
        )
    by_port = {lst["Port"]: lst for lst in listeners}
    http, https = by_port.get(80), by_port.get(443)
    if http is None:
        problems.append("there is no listener on port 80: people who type http:// get no answer at all.")
    else:
        action = http["DefaultActions"][0]
        redirect = action.get("RedirectConfig") or {}
        if action.get("Type") != "redirect":
            problems.append(
                f"the HTTP listener's default action is {action.get('Type')}, not a redirect: port 80 "
                "must send everyone to HTTPS and serve nothing in plain text."
            )
        elif redirect.get("Protocol") != "HTTPS":
            problems.append(
                f"the HTTP listener redirects to {redirect.get('Protocol')}, not to HTTPS: the browser "
                "would come back to port 80, in a loop."
            )
        elif redirect.get("Port") != "443":
            keeps = " (#{port} keeps the request's port, 80)" if redirect.get("Port") == "#{port}" else ""
            problems.append(
                f"the HTTP listener redirects to HTTPS on port {redirect.get('Port')}{keeps}: HTTPS is served on 443."
            )
    if https is None:
        problems.append("there is no listener on port 443: HTTPS is not served.")
    else:
        if https.get("Protocol") != "HTTPS":
            problems.append(f"the listener on 443 speaks {https.get('Protocol')}: it must end TLS (HTTPS).")
        policy = https.get("SslPolicy") or ""
        if not policy.startswith(MODERN_TLS):
            problems.append(
                f"the HTTPS listener's policy {policy or '(none)'} still accepts TLS 1.0 or 1.1: choose "
                "one of the ELBSecurityPolicy-TLS13-1-2 policies (TLS 1.3 and 1.2 only)."
            )
        if certificate is not None and certificate.get("Status") != "ISSUED":
            problems.append(
                f"the HTTPS listener's certificate is {certificate.get('Status')}: a listener needs an "
                "issued certificate; use the ARN that is only known once validation is complete."
            )
    return problems


def listeners() -> Feedback:
    """Exercise 04: an internet-facing ALB, HTTP redirects to HTTPS, HTTPS with TLS 1.2+ and an issued certificate."""

    def gather():
        arn = state_resource("aws_lb.main", "The load balancer")["arn"]
        state_resource("aws_lb_listener.https", "The HTTPS listener")
        elbv2 = aws.client("elbv2")
        lb = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
        found = elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
        certificate = None
        https = [lst for lst in found if lst["Port"] == 443 and lst.get("Certificates")]
        if https:
            certificate = aws.client("acm").describe_certificate(
                CertificateArn=https[0]["Certificates"][0]["CertificateArn"]
            )["Certificate"]
        return {
            "load_balancer": lb,
            "listeners": found,
            "certificate": certificate,
            "alb_group_id": state_resource("aws_security_group.alb", "The ALB's security group")["id"],
        }

    return run_check(
        "04 ALB and listeners",
        gather,
        diagnose_listeners,
        "an internet-facing ALB; port 80 redirects to HTTPS; port 443 ends TLS 1.2+ with an issued certificate.",
    )
