"""Target health checks as an Application Load Balancer runs them.

- ``TargetHealth``: one target's state machine, pure (the caller passes the time), with the
  states and reason codes AWS reports;
- ``probe()``: one real health check, an HTTP(S) GET to the target, judged by the matcher;
- ``Monitor``: every registered target of every target group, checked every interval, its
  states published to the emulator (``POST /_course/lab/target-health``) so that
  ``describe_target_health`` returns them;
- the check's HTTP/1.1 is helpers/lab/alb/http.py's (h11), as the forwarder's.

How AWS counts, from https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html :
"After your target is registered, it must pass one health check to be considered healthy";
a check is sent every HealthCheckIntervalSeconds, "each health check request is independent
and lasts the entire interval", the time a target takes to answer does not move the next one;
UnhealthyThresholdCount consecutive failures take a target out of service,
HealthyThresholdCount consecutive successes put it back. A deregistered target drains for
``deregistration_delay``. Reason codes: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from dataclasses import dataclass

from ...errors import CourseError
from ...runtime import emulator_api
from ...runtime.emulator_routes import LAB_TARGET_HEALTH
from . import http
from .config import HealthCheck, TargetGroup

DOC = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html"
USER_AGENT = "ELB-HealthChecker/2.0"  # what targets see in their access logs on AWS


@dataclass(frozen=True)
class Health:
    """What describe_target_health shows for a target."""

    state: str  # initial | healthy | unhealthy | unused | draining
    reason: str | None = None
    description: str | None = None


REGISTERING = Health("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
INITIAL = Health("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
HEALTHY = Health("healthy")
DRAINING = Health("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
UNUSED = Health("unused", "Target.NotRegistered", "Target is not registered to the target group")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one health check: passed, or the unhealthy reason it gives."""

    passed: bool
    reason: str | None = None
    description: str | None = None

    @classmethod
    def ok(cls) -> CheckResult:
        return cls(True)

    @classmethod
    def timeout(cls) -> CheckResult:
        return cls(False, "Target.Timeout", "Request timed out")

    @classmethod
    def mismatch(cls, code: int) -> CheckResult:
        return cls(False, "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{code}]")

    @classmethod
    def failed(cls) -> CheckResult:
        # Connection refused or reset, or a malformed answer.
        return cls(False, "Target.FailedHealthChecks", "Health checks failed")


class TargetHealth:
    """One registered target's health, advanced by the checks' results (times in seconds)."""

    def __init__(self, check: HealthCheck, now: float):
        self.check = check
        self.health = REGISTERING
        self.successes = 0  # consecutive
        self.failures = 0  # consecutive
        self.next_check = now  # the first check is sent at registration
        self.drain_until: float | None = None

    def due(self, now: float) -> bool:
        """Whether a check should start now (never while draining)."""
        return self.drain_until is None and now >= self.next_check

    def started(self, now: float) -> None:
        """A check was sent: the next one is one interval later, however long this one takes."""
        self.next_check = max(self.next_check + self.check.interval, now)
        if self.health == REGISTERING:
            self.health = INITIAL

    def record(self, result: CheckResult) -> Health:
        """Count one check's result; returns the new health."""
        if self.drain_until is not None:
            return self.health
        if result.passed:
            self.successes, self.failures = self.successes + 1, 0
            if self.health.state == "initial" or self.successes >= self.check.healthy_threshold:
                self.health = HEALTHY  # one pass after registration, the threshold after unhealthy
        else:
            self.successes, self.failures = 0, self.failures + 1
            unhealthy = Health("unhealthy", result.reason, result.description)
            if self.health.state == "unhealthy" or self.failures >= self.check.unhealthy_threshold:
                self.health = unhealthy  # an unhealthy target reports its latest failure
        return self.health

    def deregister(self, now: float, delay: float) -> None:
        if self.drain_until is None:
            self.drain_until = now + delay
            self.health = DRAINING

    def current(self, now: float) -> Health:
        if self.drain_until is not None and now >= self.drain_until:
            self.health = UNUSED
        return self.health

    @property
    def routable(self) -> bool:
        return self.health.state == "healthy"


# --------------------------------------------------------------------------- matcher


def parse_matcher(matcher: str) -> list[tuple[int, int]]:
    """'200', '200-299', '200,302' -> ranges (AWS allows 200-499 for an ALB)."""
    ranges = []
    for part in matcher.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d{3})(?:-(\d{3}))?", part)
        low, high = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, 0)
        if not m or not (200 <= low <= high <= 499):
            raise CourseError(
                f"The health check matcher {matcher!r} is not one the load balancer accepts.",
                "An ALB's matcher is HTTP codes from 200 to 499: one ('200'), a range ('200-299') or a list ('200,302').",
                'set the target group\'s health_check { matcher = "200-399" } (or another such value).',
            )
        ranges.append((low, high))
    return ranges


def matches(matcher: str, code: int) -> bool:
    return any(low <= code <= high for low, high in parse_matcher(matcher))


# --------------------------------------------------------------------------- one real check


def client_tls() -> ssl.SSLContext:
    # The load balancer does not validate the target's certificate (AWS: "The load balancer
    # establishes TLS connections with the targets using certificates that you install on the targets").
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def open_connection(address: str, port: int, *, tls: ssl.SSLContext | None = None):
    """asyncio.open_connection in this process's network namespace (netns.Netns.connect is the other one)."""
    return await asyncio.open_connection(address, port, ssl=tls)


async def probe(address: str, port: int, check: HealthCheck, connect=open_connection) -> CheckResult:
    """One health check: GET check.path on address:port, within check.timeout."""
    try:
        return await asyncio.wait_for(_probe(address, port, check, connect), check.timeout)
    except TimeoutError:
        return CheckResult.timeout()


async def _probe(address: str, port: int, check: HealthCheck, connect) -> CheckResult:
    tls = client_tls() if check.protocol == "HTTPS" else None
    writer = None
    try:
        reader, writer = await connect(address, port, tls=tls)
        host = f"[{address}]" if ":" in address else address
        headers = [("Host", f"{host}:{port}"), ("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Connection", "close")]
        response = await http.exchange(reader, writer, "GET", check.path, headers)
    except (OSError, http.Malformed, ssl.SSLError):
        return CheckResult.failed()
    finally:
        if writer is not None:
            writer.close()
    return CheckResult.ok() if matches(check.matcher, response.status) else CheckResult.mismatch(response.status)


# --------------------------------------------------------------------------- all targets, published


def publish(endpoint: str, target_group_arn: str, targets: dict, node: str | None = None) -> None:
    """Write states to the emulator: {(id, port): Health} -> POST /_course/lab/target-health, as load balancer
    node ``node``'s findings (None: for every node, as a claim writes; the emulator combines
    the nodes' states by one rule, helpers/runtime/moto_lab_health.py)."""
    payload = {
        "target_group_arn": target_group_arn,
        **({"node": node} if node is not None else {}),
        "targets": [
            {"id": i, "port": p, "state": h.state, "reason": h.reason, "description": h.description}
            for (i, p), h in sorted(targets.items())
        ],
    }
    emulator_api.call(endpoint, LAB_TARGET_HEALTH, payload, timeout=5)


def claim(endpoint: str, target_group_arn: str) -> None:
    """Hand a target group's health to the lab: from now on the emulator reports its new targets
    ``initial`` (Elb.RegistrationInProgress) until the lab's checks pass, and deregistered ones
    ``draining`` while they drain, as AWS does, instead of moto's instant ``healthy``. The lab's ECS
    agent claims a group before it registers its first target there."""
    publish(endpoint, target_group_arn, {})


class Monitor:
    """Health checks of every target of the given target groups, in the background of an event loop.

    ``sync(groups)`` follows registrations (new targets start initial, removed ones drain);
    ``tick()`` starts the checks that are due and returns the states that changed, by group,
    for ``publish``. ``clock`` is injectable for tests.
    """

    REPUBLISH = 10.0  # seconds: states are re-sent this often, so a restarted emulator gets them back

    def __init__(self, clock=time.monotonic, prober=probe):
        self.clock, self.prober = clock, prober
        self.targets: dict[tuple[str, str, int], TargetHealth] = {}  # (group, id, port)
        self.addresses: dict[tuple[str, str, int], tuple[str, int]] = {}  # where its checks go
        self.delays: dict[str, float] = {}
        self.changed: set[tuple[str, str, int]] = set()
        self.tasks: set[asyncio.Task] = set()
        self.published_at = 0.0
        # Drained, published unused and forgotten: not drained again while a configuration read before the
        # emulator heard of it still lists it draining (health results do not make the nodes read it again).
        self.drained: set[tuple[str, str, int]] = set()

    def sync(self, groups: dict[str, TargetGroup]) -> None:
        now = self.clock()
        seen = set()
        for arn, group in groups.items():
            self.delays[arn] = group.deregistration_delay
            for target in group.targets:
                key = (arn, target.id, target.port)
                seen.add(key)
                if not target.draining:
                    self.drained.discard(key)  # registered again
                state = self.targets.get(key)
                if target.draining:  # deregistered: drains (also when this process started during the delay)
                    if key in self.drained:
                        continue
                    if state is None:
                        self.targets[key] = state = TargetHealth(group.health_check, now)
                    state.deregister(now, group.deregistration_delay)
                    continue
                if state is None or state.drain_until is not None:  # new, or registered again
                    self.targets[key] = state = TargetHealth(group.health_check, now)
                    self.changed.add(key)
                state.check = group.health_check
                self.addresses[key] = (target.address, group.health_check.port_for(target.port))
        for key, state in list(self.targets.items()):
            if key not in seen or key[0] not in groups:
                state.deregister(now, self.delays.get(key[0], 0.0))
                self.changed.add(key)
            if state.current(now) == UNUSED:
                self.changed.add(key)
        self.drained &= seen

    def health(self, group: str, target_id: str, port: int) -> Health | None:
        state = self.targets.get((group, target_id, port))
        return state.current(self.clock()) if state else None

    def routable(self, group: str, target_id: str, port: int) -> bool:
        state = self.targets.get((group, target_id, port))
        return bool(state and state.routable)

    def tick(self) -> dict[str, dict]:
        """Start due checks; the states to publish, {group: {(id, port): Health}}."""
        now = self.clock()
        for key, state in self.targets.items():
            if state.due(now):
                state.started(now)
                self.changed.add(key)
                task = asyncio.ensure_future(self._check(key, state))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        everything = now - self.published_at >= self.REPUBLISH
        keys = set(self.targets) if everything else self.changed
        if everything:
            self.published_at = now
        out: dict[str, dict] = {}
        for key in keys:
            if key in self.targets:
                out.setdefault(key[0], {})[key[1:]] = self.targets[key].current(now)
        for key in [k for k, s in self.targets.items() if s.health == UNUSED]:
            del self.targets[key]  # published once as unused, then forgotten
            self.drained.add(key)
        self.changed = set()
        return out

    async def _check(self, key, state: TargetHealth) -> None:
        address, port = self.addresses[key]
        result = await self.prober(address, port, state.check)
        before = state.health
        if state.record(result) != before:
            self.changed.add(key)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
