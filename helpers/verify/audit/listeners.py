"""The audit's look at a load balancer's listeners: each as text, and what is wrong with them.

What is checked, with AWS's own advice: an HTTPS listener exists, and HTTP redirects to HTTPS on
443 (https://docs.aws.amazon.com/controltower/latest/controlreference/elb-rules.html,
CT.ELASTICLOADBALANCING.PR.1); a forward names a target group; the TLS policy refuses TLS 1.0/1.1
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
Pure.
"""

from __future__ import annotations

from .report import Finding, Report


def listener_text(listener: dict) -> str:
    action = listener.get("action", {})
    if action.get("type") == "redirect":
        goal = f"redirect to {action.get('protocol', '#{protocol}')}:{action.get('port', '#{port}')}"
    elif action.get("type") == "forward":
        goal = f"forward to {', '.join(action.get('target_groups', [])) or 'no target group'}"
    else:
        goal = action.get("type", "?")
    policy = f" ({listener['ssl_policy']})" if listener.get("ssl_policy") else ""
    return f"{listener['protocol']}:{listener['port']}{policy} → {goal}"


def listener_findings(listeners: list[dict], report: Report) -> bool:
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
