"""Target health written by the traffic lab, returned by moto's DescribeTargetHealth.

moto has no data plane: every registered target is "healthy" at once. The lab's load
balancer (helpers/lab/alb/node.py) runs the real health checks and posts what it finds:

    POST /_course/lab/target-health
    {"target_group_arn": "arn:...", "targets": [{"id": "i-...", "port": 32768, "state": "unhealthy",
      "reason": "Target.Timeout", "description": "Request timed out"}]}

From then on ``describe_target_health`` returns exactly that for those targets. A target
group the lab never wrote to keeps moto's behaviour. In a group the lab writes to, the
emulator also does what AWS does between two of the lab's posts: a new registration is
``initial`` / ``Elb.RegistrationInProgress``, a deregistered target is ``draining`` /
``Target.DeregistrationInProgress`` and is listed while it drains
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).

Runs inside the emulator process only (``apply()`` patches moto, as moto_fixes does).
"""

from __future__ import annotations

import json
import threading

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
_lock = threading.Lock()
_states: dict[tuple[str, str, int], tuple[str, str | None, str | None]] = {}  # (group, id, port) -> health
_groups: set[str] = set()  # the target groups the lab writes to


class BadRequest(ValueError):
    pass


def write(payload: dict) -> int:
    """Store the payload's states; returns how many. Raises BadRequest, or KeyError for no such group."""
    if not isinstance(payload, dict) or not isinstance(payload.get("target_group_arn"), str):
        raise BadRequest('expected {"target_group_arn": "arn:...", "targets": [...]}')
    arn = payload["target_group_arn"]
    targets = payload.get("targets")
    if not isinstance(targets, list):
        raise BadRequest('"targets" must be a list of {"id", "port", "state", "reason", "description"}')
    rows = {}
    for t in targets:
        if not isinstance(t, dict) or not isinstance(t.get("id"), str) or not isinstance(t.get("port"), int):
            raise BadRequest(f"each target needs a string id and an integer port: {t!r}")
        if t.get("state") not in STATES:
            raise BadRequest(f"state {t.get('state')!r} is not one of {sorted(STATES)}")
        if t.get("reason") is not None and t["reason"] not in REASONS:
            raise BadRequest(f"reason {t['reason']!r} is not an AWS reason code ({sorted(REASONS)})")
        rows[(arn, t["id"], t["port"])] = (t["state"], t.get("reason"), t.get("description"))
    _target_group(arn)  # KeyError when there is no such group
    with _lock:
        _groups.add(arn)
        changed = any(_states.get(key) != health for key, health in rows.items())
        _states.update(rows)
    if changed:  # what the lab's load balancer nodes watch for (they route by these states)
        moto_changes.bump(CHANGES)
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
        with _lock:
            written = _states.get(_key(self, target))
        if written:
            status.status, status.reason, status.description = written
        return status

    def register(self, targets):
        original_register(self, targets)
        with _lock:
            if self.arn in _groups:
                for target in targets:
                    _states[_key(self, target)] = (
                        "initial",
                        "Elb.RegistrationInProgress",
                        "Target registration is in progress",
                    )

    def deregister(self, targets):
        original_deregister(self, targets)
        with _lock:
            if self.arn in _groups:
                for target in targets:
                    _states[_key(self, target)] = (
                        "draining",
                        "Target.DeregistrationInProgress",
                        "Target deregistration is in progress",
                    )

    def describe_target_health(self, target_group_arn, targets):
        group = self.target_groups.get(target_group_arn)
        if group is not None and not targets:
            with _lock:
                draining = [
                    {"Id": i, "Port": p}
                    for (arn, i, p), (state, _, _) in sorted(_states.items())
                    if arn == target_group_arn and state == "draining" and (i, p) not in group.targets
                ]
            if draining:
                targets = list(group.targets.values()) + draining
        return original_describe(self, target_group_arn, targets)

    def delete_target_group(self, target_group_arn):
        result = original_delete(self, target_group_arn)
        with _lock:
            _groups.discard(target_group_arn)
            for key in [k for k in _states if k[0] == target_group_arn]:
                del _states[key]
        return result

    FakeTargetGroup.health_for = health_for
    FakeTargetGroup.register = register
    FakeTargetGroup.deregister = deregister
    ELBv2Backend.describe_target_health = describe_target_health
    ELBv2Backend.delete_target_group = delete_target_group
    return ["lab_target_health"]
