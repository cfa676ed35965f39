"""Target health written by the traffic lab, returned by moto's DescribeTargetHealth.

moto has no data plane: every registered target is "healthy" at once. The lab's load
balancer (helpers/lab/alb/node.py) runs the real health checks and posts what it finds:

    POST /_course/lab/target-health
    {"target_group_arn": "arn:...", "node": "10.0.1.254", "targets": [{"id": "i-...", "port": 32768,
      "state": "unhealthy", "reason": "Target.Timeout", "description": "Request timed out"}]}

From then on ``describe_target_health`` returns, for those targets, what every node's reports combine to
(below). A target
group the lab never wrote to keeps moto's behaviour. In a group the lab writes to, the
emulator also does what AWS does between two of the lab's posts: a new registration is
``initial`` / ``Elb.RegistrationInProgress``, a deregistered target is ``draining`` /
``Target.DeregistrationInProgress`` and is listed while it drains
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).

Each load balancer node checks each target on its own ("Each load balancer node checks the health of each
target", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html),
so each lab node posts its own findings under its node id (``"node": "10.0.1.254"``), kept apart here. AWS does
not document how DescribeTargetHealth combines its nodes' views into one state (that page, the TargetHealth API
reference and "Target health status" say nothing of it), so the lab chooses, and says so: **the most severe
state any node reports stands** (``SEVERITY``: draining, unhealthy, initial, unavailable, healthy, unused, most
severe first); a target is healthy only once every node that reports it finds it healthy, and the reason and
description are those of the first node (by id) reporting that state. Why: ECS replaces a task its load
balancer reports unhealthy, and a target one node cannot reach loses that node's share of the requests, so the
lesson shows the failure rather than hiding it behind another node's success. A node's report counts for
``STALE`` seconds (nodes re-send every 10 s, helpers/lab/alb/health.py's Monitor.REPUBLISH) unless every
report is older, then the newest stands. A post without a node (a claim: helpers/lab/alb/health.py) and the
emulator's own ``initial`` and ``draining`` at (de)registration replace every node's report; a node's next post
replaces them in turn. A node that has not reported yet has no say (the emulator does not know how many nodes a
load balancer runs): right after registration a target reads healthy once the first node has found it healthy. The change count ``lab-target-health`` (helpers/runtime/moto_changes.py) moves only when
the combined state changes.

Runs inside the emulator process only (``apply()`` patches moto, as moto_fixes does).
"""

from __future__ import annotations

import json
import threading
import time

from . import moto_changes

STATES = {"initial", "healthy", "unhealthy", "unused", "draining", "unavailable"}
REASONS = {
    "Elb.RegistrationInProgress",
    "Elb.InitialHealthChecking",
    "Elb.InternalError",
    "Target.ResponseCodeMismatch",
    "Target.Timeout",
    "Target.FailedHealthChecks",
    "Target.NotRegistered",
    "Target.NotInUse",
    "Target.DeregistrationInProgress",
    "Target.InvalidState",
    "Target.IpUnusable",
    "Target.HealthCheckDisabled",
}

CHANGES = moto_changes.LAB_TARGET_HEALTH  # its key in /_course/changes
SEVERITY = ("draining", "unhealthy", "initial", "unavailable", "healthy", "unused")  # most severe first
STALE = 30.0  # seconds a node's report counts while other nodes report newer ones
EMULATOR = ""  # the reporter of a post without a node, and of the emulator's own (de)registration states
NODE_ID = 100  # characters at most in a node id

Health = tuple[str, str | None, str | None]  # state, reason, description
_lock = threading.Lock()
# (group, id, port) -> {node id: (health, monotonic time of the report)}
_reports: dict[tuple[str, str, int], dict[str, tuple[Health, float]]] = {}
_groups: set[str] = set()  # the target groups the lab writes to


class BadRequest(ValueError):
    pass


def combined(reports: dict[str, tuple[Health, float]], now: float) -> Health | None:
    """The one state DescribeTargetHealth returns from every node's report (the rule: module docstring)."""
    if not reports:
        return None
    fresh = {node: r for node, r in reports.items() if now - r[1] < STALE}
    if not fresh:
        newest = max(reports, key=lambda node: reports[node][1])
        fresh = {newest: reports[newest]}
    return min(
        ((SEVERITY.index(health[0]), node, health) for node, (health, _) in fresh.items()),
        key=lambda ranked: ranked[:2],
    )[2]


def state_of(key: tuple[str, str, int]) -> Health | None:
    with _lock:
        return combined(_reports.get(key, {}), time.monotonic())


def write(payload: dict) -> int:
    """Store the payload's states as its node's; returns how many. Raises BadRequest, or KeyError for no such
    group."""
    if not isinstance(payload, dict) or not isinstance(payload.get("target_group_arn"), str):
        raise BadRequest('expected {"target_group_arn": "arn:...", "node": "...", "targets": [...]}')
    arn = payload["target_group_arn"]
    node = payload.get("node")
    if node is not None and (not isinstance(node, str) or not 0 < len(node) <= NODE_ID):
        raise BadRequest(f'"node" must be the reporting node\'s id, a string of 1 to {NODE_ID} characters: {node!r}')
    targets = payload.get("targets")
    if not isinstance(targets, list):
        raise BadRequest('"targets" must be a list of {"id", "port", "state", "reason", "description"}')
    rows: dict[tuple[str, str, int], Health] = {}
    for t in targets:
        if not isinstance(t, dict) or not isinstance(t.get("id"), str) or not isinstance(t.get("port"), int):
            raise BadRequest(f"each target needs a string id and an integer port: {t!r}")
        if t.get("state") not in STATES:
            raise BadRequest(f"state {t.get('state')!r} is not one of {sorted(STATES)}")
        if t.get("reason") is not None and t["reason"] not in REASONS:
            raise BadRequest(f"reason {t['reason']!r} is not an AWS reason code ({sorted(REASONS)})")
        rows[(arn, t["id"], t["port"])] = (t["state"], t.get("reason"), t.get("description"))
    _target_group(arn)  # KeyError when there is no such group
    now = time.monotonic()
    with _lock:
        _groups.add(arn)
        before = {key: combined(_reports.get(key, {}), now) for key in rows}
        for key, health in rows.items():
            if node is None:  # a claim: for every node
                _reports[key] = {EMULATOR: (health, now)}
            else:
                reports = _reports.setdefault(key, {})
                reports.pop(EMULATOR, None)
                reports[node] = (health, now)
        changed = any(combined(_reports[key], now) != before[key] for key in rows)
    if changed:  # what describe_target_health returns changed (the ECS scheduler acts on it)
        moto_changes.bump(CHANGES, _account_of(arn))
    return len(rows)


def wsgi(environ, start_response):
    """The route's handler: 200 {"written": n}, 400 for a bad body, 404 for an unknown group."""
    if environ.get("REQUEST_METHOD") != "POST":
        return _answer(start_response, "405 Method Not Allowed", {"error": "POST a JSON body"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"null")
        signer = environ.get("HTTP_X_MOTO_ACCOUNT_ID")  # a room's door names the signer's account
        if signer and isinstance(payload, dict) and _account_of(payload.get("target_group_arn")) != signer:
            return _answer(
                start_response,
                "403 Forbidden",
                {"error": f"{payload.get('target_group_arn')} is not in account {signer}"},
            )
        return _answer(start_response, "200 OK", {"written": write(payload)})
    except (BadRequest, ValueError) as exc:
        return _answer(start_response, "400 Bad Request", {"error": str(exc)})
    except KeyError:
        return _answer(start_response, "404 Not Found", {"error": "no such target group"})


def _answer(start_response, status: str, body: dict):
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def _account_of(arn) -> str | None:
    parts = str(arn).split(":")
    return parts[4] if len(parts) >= 6 else None


def _target_group(arn: str):
    from moto.elbv2.models import elbv2_backends  # moto: loaded only in the emulator's own process

    parts = arn.split(":")
    if len(parts) < 6:
        raise KeyError(arn)
    group = elbv2_backends[parts[4]][parts[3]].target_groups.get(arn)
    if group is None:
        raise KeyError(arn)
    return group


def _key(group, target) -> tuple[str, str, int]:
    return (group.arn, target["Id"], int(target.get("Port") or group.port or 0))


def apply() -> list[str]:
    """Patch moto (after moto_fixes.apply(), whose (id, port) keys it relies on)."""
    from moto.elbv2.models import ELBv2Backend, FakeTargetGroup  # moto: the emulator's own process

    original_health_for = FakeTargetGroup.health_for
    original_register = FakeTargetGroup.register
    original_deregister = FakeTargetGroup.deregister
    original_describe = ELBv2Backend.describe_target_health
    original_delete = ELBv2Backend.delete_target_group

    def health_for(self, target, ec2_backend):
        status = original_health_for(self, target, ec2_backend)
        written = state_of(_key(self, target))
        if written:
            status.status, status.reason, status.description = written
        return status

    def register(self, targets):
        original_register(self, targets)
        with _lock:
            if self.arn in _groups:
                for target in targets:
                    registering = ("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
                    _reports[_key(self, target)] = {EMULATOR: (registering, time.monotonic())}

    def deregister(self, targets):
        original_deregister(self, targets)
        with _lock:
            if self.arn in _groups:
                for target in targets:
                    draining = ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
                    _reports[_key(self, target)] = {EMULATOR: (draining, time.monotonic())}

    def describe_target_health(self, target_group_arn, targets):
        group = self.target_groups.get(target_group_arn)
        if group is not None and not targets:
            now = time.monotonic()
            with _lock:
                draining = [
                    {"Id": i, "Port": p}
                    for (arn, i, p), reports in sorted(_reports.items())
                    if arn == target_group_arn
                    and (combined(reports, now) or ("",))[0] == "draining"
                    and (i, p) not in group.targets
                ]
            if draining:
                targets = list(group.targets.values()) + draining
        return original_describe(self, target_group_arn, targets)

    def delete_target_group(self, target_group_arn):
        result = original_delete(self, target_group_arn)
        with _lock:
            _groups.discard(target_group_arn)
            for key in [k for k in _reports if k[0] == target_group_arn]:
                del _reports[key]
        return result

    FakeTargetGroup.health_for = health_for
    FakeTargetGroup.register = register
    FakeTargetGroup.deregister = deregister
    ELBv2Backend.describe_target_health = describe_target_health
    ELBv2Backend.delete_target_group = delete_target_group
    return ["lab_target_health"]
