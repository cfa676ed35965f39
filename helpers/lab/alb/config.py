"""One load balancer's configuration, read from the emulator with boto3, as plain data.

``read(arn)`` returns a ``LoadBalancer``: its listeners (port, protocol, certificate pair,
security policy with its TLS versions and ciphers), their rules in priority order and default
actions, the target groups the actions forward to (health check, ``deregistration_delay``, registered targets with the
address to connect to) and the ``idle_timeout.timeout_seconds`` attribute. The ALB process
(helpers/lab/alb/node.py) calls it again within a second of a write to the emulator that could change
it (helpers/lab/changes.py), so a rule, target or attribute changed by Terraform or boto3 takes
effect at once.

Certificates: the course imports a pair its own CA signed into ACM (helpers/tf/certificate.py,
in the workspace's ``certs/``). ACM returns the certificate but never its key, so the key is
found in ``certs/`` by matching the certificate. An ACM-issued certificate has no pair in the
workspace: the lab has the course's CA sign one for its domain (``certs/lab-issued/``), as ACM's
stand-in, so the lab's client verifies it as it verifies an imported one.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from ... import workspace
from ...errors import CourseError
from ...runtime import aws
from ...tf.certificate import issue as issue_certificate
from . import tls as tls_policy
from .tls import SecurityPolicy

# AWS: "If the load balancer cannot establish a connection with the target within 10 seconds, it returns 504"
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html
CONNECT_TIMEOUT = 10.0
# idle_timeout.timeout_seconds default: 60 s
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#connection-idle-timeout
IDLE_TIMEOUT = 60.0


@dataclass(frozen=True)
class HealthCheck:
    protocol: str = "HTTP"
    path: str = "/"
    port: str = "traffic-port"  # "traffic-port" or a port number, as the API spells it
    interval: float = 30.0
    timeout: float = 5.0
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"

    def port_for(self, target_port: int) -> int:
        return target_port if self.port == "traffic-port" else int(self.port)


@dataclass(frozen=True)
class Target:
    id: str  # instance id or IP address
    port: int
    address: str  # where the load balancer connects: the instance's private IP, or the IP target itself
    draining: bool = False  # deregistered, inside its deregistration delay

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.port)


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str
    protocol: str
    port: int
    health_check: HealthCheck
    deregistration_delay: float = 300.0
    targets: tuple[Target, ...] = ()
    protocol_version: str = "HTTP1"  # HTTP1 | HTTP2 | GRPC: what the targets speak


@dataclass(frozen=True)
class Redirect:
    protocol: str = "#{protocol}"
    host: str = "#{host}"
    port: str = "#{port}"
    path: str = "/#{path}"
    query: str = "#{query}"
    status_code: str = "HTTP_301"


@dataclass(frozen=True)
class FixedResponse:
    status_code: int
    content_type: str = "text/plain"
    body: str = ""


@dataclass(frozen=True)
class Action:
    type: str  # forward | redirect | fixed-response
    target_groups: tuple[tuple[str, int], ...] = ()  # forward: (target group ARN, weight)
    redirect: Redirect | None = None
    fixed_response: FixedResponse | None = None


@dataclass(frozen=True)
class Rule:
    priority: int
    path_patterns: tuple[str, ...] = ()
    host_headers: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Certificate:
    arn: str
    domain: str
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class Listener:
    arn: str
    port: int
    protocol: str
    default_actions: tuple[Action, ...]
    rules: tuple[Rule, ...] = ()  # priority order, the default rule excluded
    certificate: Certificate | None = None
    policy: SecurityPolicy | None = None  # HTTPS: its security policy (helpers/lab/alb/tls.py)


@dataclass(frozen=True)
class LoadBalancer:
    arn: str
    name: str
    dns_name: str
    listeners: tuple[Listener, ...]
    target_groups: dict = field(default_factory=dict)  # ARN -> TargetGroup
    idle_timeout: float = IDLE_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT  # AWS's fixed 10 s; tests may pass a shorter one to read()
    drop_invalid_header_fields: bool = False  # routing.http.drop_invalid_header_fields.enabled


def read(arn: str, *, connect_timeout: float = CONNECT_TIMEOUT, client=None) -> LoadBalancer:
    """The load balancer ``arn`` as the emulator has it now. ``client(service)`` makes the boto3 clients
    (default: aws.client; the lab's nodes pass aws.emulator_client's)."""
    client = client or aws.client
    elbv2 = client("elbv2")
    try:
        lb = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    except elbv2.exceptions.LoadBalancerNotFoundException:
        raise CourseError(
            f"No load balancer {arn} in the emulator.",
            "The lab's ALB reads its configuration from the emulator, and this load balancer is not there "
            "(destroyed, or the emulator was restarted and has not been re-applied).",
            "apply the course's stack again (python -m helpers terraform course apply), then start the lab again.",
        ) from None
    attributes = {
        a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    }
    listeners = []
    group_arns: set[str] = set()
    for item in elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]:
        rules, default = [], ()
        for rule in elbv2.describe_rules(ListenerArn=item["ListenerArn"])["Rules"]:
            actions = tuple(_action(a) for a in sorted(rule.get("Actions", []), key=lambda a: a.get("Order", 0)))
            if rule.get("IsDefault") or rule.get("Priority") == "default":
                default = actions
            else:
                rules.append(_rule(rule, actions))
        if not default:
            default = tuple(_action(a) for a in item.get("DefaultActions", []))
        for action in (*default, *(a for r in rules for a in r.actions)):
            group_arns.update(tg for tg, _ in action.target_groups)
        certs = item.get("Certificates") or []
        listeners.append(
            Listener(
                arn=item["ListenerArn"],
                port=int(item["Port"]),
                protocol=item["Protocol"],
                default_actions=default,
                rules=tuple(sorted(rules, key=lambda r: r.priority)),
                certificate=certificate(certs[0]["CertificateArn"], client) if certs else None,
                policy=tls_policy.describe(item.get("SslPolicy"), client) if item["Protocol"] == "HTTPS" else None,
            )
        )
    return LoadBalancer(
        arn=arn,
        name=lb["LoadBalancerName"],
        dns_name=lb.get("DNSName", ""),
        listeners=tuple(sorted(listeners, key=lambda x: x.port)),
        target_groups={tg: target_group(tg, client) for tg in sorted(group_arns)},
        idle_timeout=float(attributes.get("idle_timeout.timeout_seconds") or IDLE_TIMEOUT),
        connect_timeout=connect_timeout,
        drop_invalid_header_fields=attributes.get("routing.http.drop_invalid_header_fields.enabled") == "true",
    )


def target_group(arn: str, client=None) -> TargetGroup:
    """One target group with its health check and its registered (and draining) targets."""
    client = client or aws.client
    elbv2 = client("elbv2")
    tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    attributes = {
        a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    ids = sorted({h["Target"]["Id"] for h in health if h["Target"]["Id"].startswith("i-")})
    addresses = _instance_addresses(ids, client)
    targets = []
    for h in health:
        target_id, port = h["Target"]["Id"], int(h["Target"].get("Port") or tg.get("Port") or 80)
        address = addresses.get(target_id) if target_id.startswith("i-") else target_id
        if not address:
            continue  # a stopped or terminated instance: nothing to connect to
        state = h.get("TargetHealth", {}).get("State")
        targets.append(Target(target_id, port, address, draining=state == "draining"))
    matcher = tg.get("Matcher") or {}
    return TargetGroup(
        arn=arn,
        name=tg["TargetGroupName"],
        protocol=tg.get("Protocol") or "HTTP",
        port=int(tg.get("Port") or 80),
        protocol_version=tg.get("ProtocolVersion") or "HTTP1",
        health_check=HealthCheck(
            protocol=tg.get("HealthCheckProtocol") or "HTTP",
            path=tg.get("HealthCheckPath") or "/",
            port=str(tg.get("HealthCheckPort") or "traffic-port"),
            interval=float(tg.get("HealthCheckIntervalSeconds") or 30),
            timeout=float(tg.get("HealthCheckTimeoutSeconds") or 5),
            healthy_threshold=int(tg.get("HealthyThresholdCount") or 5),
            unhealthy_threshold=int(tg.get("UnhealthyThresholdCount") or 2),
            matcher=str(matcher.get("HttpCode") or "200"),
        ),
        deregistration_delay=float(attributes.get("deregistration_delay.timeout_seconds") or 300),
        targets=tuple(sorted(targets, key=lambda t: t.key)),
    )


def _instance_addresses(ids: list[str], client) -> dict[str, str]:
    """Instance id -> private IP, for the running instances among ``ids``."""
    if not ids:
        return {}
    found = {}
    pages = client("ec2").get_paginator("describe_instances").paginate(InstanceIds=ids)
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                if instance.get("State", {}).get("Name") == "running" and instance.get("PrivateIpAddress"):
                    found[instance["InstanceId"]] = instance["PrivateIpAddress"]
    return found


def _rule(rule: dict, actions: tuple[Action, ...]) -> Rule:
    paths: list[str] = []
    hosts: list[str] = []
    for condition in rule.get("Conditions", []):
        name = condition.get("Field")
        values = list(condition.get("Values") or [])
        if name == "path-pattern":
            values += condition.get("PathPatternConfig", {}).get("Values", [])
            paths += values
        elif name == "host-header":
            values += condition.get("HostHeaderConfig", {}).get("Values", [])
            hosts += values
        else:
            raise CourseError(
                f"The lab's load balancer cannot evaluate the rule condition {name!r} (rule {rule.get('RuleArn')}).",
                "The lab implements the path-pattern and host-header conditions only.",
                "use path-pattern or host-header conditions in the lab, or remove this rule.",
            )
    return Rule(int(rule["Priority"]), tuple(dict.fromkeys(paths)), tuple(dict.fromkeys(hosts)), actions)


def _action(action: dict) -> Action:
    kind = action["Type"]
    if kind == "forward":
        groups = [
            (g["TargetGroupArn"], int(g.get("Weight", 1)))
            for g in action.get("ForwardConfig", {}).get("TargetGroups", [])
        ]
        if not groups and action.get("TargetGroupArn"):
            groups = [(action["TargetGroupArn"], 1)]
        return Action("forward", target_groups=tuple(groups))
    if kind == "redirect":
        r = action.get("RedirectConfig", {})
        return Action(
            "redirect",
            redirect=Redirect(
                protocol=r.get("Protocol") or "#{protocol}",
                host=r.get("Host") or "#{host}",
                port=str(r.get("Port") or "#{port}"),
                path=r.get("Path") or "/#{path}",
                query=r.get("Query") if r.get("Query") is not None else "#{query}",
                status_code=r.get("StatusCode") or "HTTP_301",
            ),
        )
    if kind == "fixed-response":
        f = action.get("FixedResponseConfig", {})
        return Action(
            "fixed-response",
            fixed_response=FixedResponse(
                status_code=int(f.get("StatusCode") or 200),
                content_type=f.get("ContentType") or "text/plain",
                body=f.get("MessageBody") or "",
            ),
        )
    raise CourseError(
        f"The lab's load balancer cannot run the {kind!r} action.",
        "The lab implements forward, redirect and fixed-response actions (no authenticate-cognito/-oidc).",
        "use one of those actions in the lab.",
    )


# --------------------------------------------------------------------------- certificates

_certificates: dict[str, Certificate] = {}  # ARN -> pair, found once per process


def certificate(arn: str, client=None) -> Certificate:
    """The (certificate, key) pair behind the ACM certificate ``arn``."""
    if arn in _certificates and _certificates[arn].key_path.exists():
        return _certificates[arn]
    acm = (client or aws.client)("acm")
    described = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    domain = described.get("DomainName") or "lab.invalid"
    if described.get("Type") == "IMPORTED":
        pem = acm.get_certificate(CertificateArn=arn)["Certificate"]
        cert_path, key_path = _workspace_pair(pem, arn, domain)
    else:
        cert_path, key_path = lab_issued_pair(domain)
    _certificates[arn] = Certificate(arn, domain, cert_path, key_path)
    return _certificates[arn]


def _der(pem: str) -> bytes:
    block = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
    return ssl.PEM_cert_to_DER_cert(block.group(0)) if block else b""


def _workspace_pair(pem: str, arn: str, domain: str) -> tuple[Path, Path]:
    """The workspace's ``certs/`` pair whose certificate is ``pem`` (ACM gives no key back)."""
    wanted = _der(pem)
    folder = workspace.path("certs")
    for cert_path in sorted(folder.glob("*.crt")) if folder.is_dir() else []:
        key_path = cert_path.with_suffix(".key")
        if key_path.exists() and _der(cert_path.read_text()) == wanted:
            return cert_path, key_path
    raise CourseError(
        f"The lab has no private key for the imported certificate {arn} ({domain}).",
        f"ACM never returns an imported certificate's key, and no certificate in {workspace.relative(folder)}/ "
        "matches this one (it was imported from elsewhere, or the workspace's certs/ folder was removed).",
        "re-apply the course's stack so that it imports the workspace's own certificate "
        "(python -m helpers terraform course apply), or put the pair in certs/ as NAME.crt and NAME.key.",
    )


def lab_issued_pair(domain: str) -> tuple[Path, Path]:
    """A pair the course's CA signs, standing for an ACM-issued certificate of ``domain``; made once."""
    return issue_certificate(domain, workspace.path("certs", "lab-issued"))
