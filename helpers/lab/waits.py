"""The lessons' waits, shown as they wait: what the load balancer or ECS is doing, against its own timings.

While a wait runs, a notebook cell shows one live display (helpers/tf/progress.py's), updated in place:

    … waiting for 504 from ecs-alb-learner-….elb.amazonaws.com/ over HTTPS — 7 s elapsed
    this request: 7 s; the load balancer gives up on a target after its 10 s connection timeout (504)
    [   0s] 503 Service Temporarily Unavailable: no target registered at this moment; asking again

When it ends, the display is emptied and one line without times is printed ("waited for 504: …"), so the
saved output nbval compares is stable. Each wait is bounded, and its error says what it saw last.

The timings come from AWS's answers (the emulator holds what Terraform set): the target group's health check
interval and thresholds (describe_target_groups), the service's health check grace period (describe_services),
and the load balancer's fixed 10 s connection timeout
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-504-issues).
A newly registered target needs one passing check, an unhealthy one ``HealthyThresholdCount`` in a row
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html); ECS acts on
an unhealthy target once the task has run past its grace period
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-unhealthy-event-messages.html).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from ..errors import CourseError
from ..runtime import aws, cloud
from ..tf.progress import Progress
from .alb.config import CONNECT_TIMEOUT
from .client import Reply, address
from .targets import Targets

STEP = 0.5  # seconds between two looks at the target health or the service's events
# How long each wait may take, in seconds: (in the lab, on AWS). The lab's health checks and ECS stand-in run on this
# machine and follow a change within a second or two (make bench); the rest is margin for a busy machine. On AWS a
# registration takes up to a few minutes before the first check (register targets, link above), and ECS replaces a
# task in a cycle of grace period, checks, deregistration delay and a new task's start: minutes.
BOUNDS = {
    "request": (90.0, 300.0),
    "unhealthy": (60.0, 300.0),
    "healthy": (120.0, 420.0),
    "registered": (90.0, 420.0),
    "event": (90.0, 600.0),
}
# What the load balancer's answers mean while a lesson waits for another one.
MEANS = {
    503: "no target registered at this moment",
    504: "no connection to a target within 10 s",
    502: "a target closed the connection or answered something that is not HTTP",
    200: "a target answered",
}
HOW_TO_LOOK = "python -m helpers lab status shows what the lab runs; run the cell again to wait once more"
ON_AWS = "aws elbv2 describe-target-health and the service's events in the ECS console show what AWS does"


def bound(kind: str) -> float:
    """The default bound of a wait of ``kind`` (a key of BOUNDS) for the current target."""
    lab, on_aws = BOUNDS[kind]
    return lab if cloud.is_emulator() else on_aws


class Watch:
    """One live display for one wait: a title, a status line, stamped notes; then one stable final line."""

    def __init__(self, title: str, final: str):
        self.progress = Progress(title)
        self.final = final

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc) -> None:
        self.progress.close(self.final)

    @property
    def elapsed(self) -> float:
        return self.progress.elapsed

    def status(self, text: str) -> None:
        self.progress.status = text
        self.progress.tick()

    def note(self, text: str) -> None:
        self.progress.line(text)

    def run(self, work: Callable, status: Callable[[float], str]):
        """``work()`` in a thread, the status line ticking meanwhile (``status(seconds since it began)``)."""
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(work)
            while not future.done():
                self.status(status(time.monotonic() - began))
                time.sleep(0.25)
            return future.result()


def health_timings(target_group_arn: str) -> dict:
    """The target group's health check settings, as AWS holds them."""
    group = aws.client("elbv2").describe_target_groups(TargetGroupArns=[target_group_arn])["TargetGroups"][0]
    return {
        "interval": group["HealthCheckIntervalSeconds"],
        "healthy": group["HealthyThresholdCount"],
        "unhealthy": group["UnhealthyThresholdCount"],
    }


def until_status(send: Callable[[], Reply], url: str, status: int, *, within: float) -> Reply:
    """Ask with ``send()`` until the answer is ``status``; the last reply once ``within`` seconds are over."""
    why = {
        504: f"the load balancer waits {CONNECT_TIMEOUT:.0f} s for a connection to a target, then gives up",
        503: "the load balancer answers it at once when no target is registered",
    }.get(status, MEANS.get(status, "the load balancer's answer"))
    deadline = time.monotonic() + within
    with Watch(f"waiting for {status} from {address(url)}", f"waited for {status}: {why}") as watch:
        while True:
            reply = watch.run(
                send,
                lambda t: (
                    f"this request: {t:.0f} s; the load balancer gives up on a target after its "
                    f"{CONNECT_TIMEOUT:.0f} s connection timeout (504)"
                ),
            )
            if reply.status == status or time.monotonic() > deadline:
                return reply
            meaning = MEANS.get(reply.status, "")
            watch.note(f"{reply.summary.rsplit(' in ', 1)[0]}{': ' + meaning if meaning else ''}; asking again")
            time.sleep(STEP)


def until_targets(
    target_group_arn: str, test: Callable[[Targets], bool], *, what: str, why: str, within: float
) -> Targets:
    """The target health once ``test(targets)`` holds; a CourseError naming what it saw after ``within`` seconds."""
    deadline = time.monotonic() + within
    with Watch(f"waiting for {what}", f"waited for {what}: {why}") as watch:
        while True:
            targets = Targets.read(target_group_arn)
            if test(targets):
                return targets
            if time.monotonic() > deadline:
                raise CourseError(
                    f"The targets did not become {what} within {within:.0f} s.",
                    f"Target health now: {targets.summary()}.",
                    HOW_TO_LOOK if cloud.is_emulator() else ON_AWS,
                )
            watch.status(f"now: {targets.summary()}; {why}")
            time.sleep(STEP)


def until_event(cluster: str, service: str, phrase: str, *, since: datetime | None, within: float) -> str:
    """The service's newest event containing ``phrase`` (written at ``since`` or later), within ``within`` s."""
    found = aws.client("ecs").describe_services(cluster=cluster, services=[service])["services"]
    grace = found[0].get("healthCheckGracePeriodSeconds", 0) if found else 0
    why = f"ECS acts on an unhealthy target once its task has run past the {grace} s grace period"
    deadline = time.monotonic() + within
    with Watch(f"waiting for ECS's event {phrase!r}", f"waited for ECS's event: {why}") as watch:
        while True:
            matching = [
                e
                for e in events(cluster, service)
                if phrase in e["message"] and (since is None or e["createdAt"] >= since)
            ]
            if matching:
                return matching[-1]["message"]
            if time.monotonic() > deadline:
                raise CourseError(
                    f"ECS wrote no event saying {phrase!r} within {within:.0f} s.",
                    "ECS writes the service's events as it acts (the lab's stand-in words them as ECS does); "
                    "none matched yet.",
                    HOW_TO_LOOK if cloud.is_emulator() else ON_AWS,
                )
            watch.status(why)
            time.sleep(STEP)


def events(cluster: str, service: str) -> list[dict]:
    """The service's events, oldest first (ECS lists them newest first)."""
    found = aws.client("ecs").describe_services(cluster=cluster, services=[service])["services"]
    return list(reversed(found[0].get("events", []))) if found else []
