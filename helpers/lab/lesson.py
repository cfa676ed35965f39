"""The traffic lab as the notebooks use it: ``from helpers import lab``.

    lab.up()                              start it where it can run (idempotent); says so in one line either way
    lab.running()                         is it up? (cells take the real path, or evaluate the rules instead)
    lab.curl(url)                         a real request from the lab's internet: status, headers, body, certificate
                                          (verified for the name; insecure=True as curl -k), time
    lab.connect(src, dst, port)           a real TCP connection (the CLI's lab probe): "reachable", "refused" or "blocked"
    lab.audit_predicts(src, dst, port)    what the reachability audit's evaluation says ``connect`` will answer
    lab.hosts(role)                       the lab's hosts of a role: "alb" (the load balancer's nodes), "ec2"
    lab.target_health(arn)                the target group's targets, sorted: (instance, port, state, reason)
    lab.wait_for_health(arn, until, ...)  the same, once ``until(targets)`` holds (bounded)
    lab.service_events(cluster, service)  the service's events, oldest first
    lab.wait_for_event(cluster, service, phrase, ...)  the newest event that says ``phrase`` (bounded)
    lab.synced()                          wait until the lab's kernel has the emulator's current rules (bounded)
    lab.curl_until(url, status, ...)      ask again until the load balancer's nodes answer ``status`` (bounded)
    lab.without(what)                     the one line a cell prints where the lab cannot run
    lab.down()                            remove every namespace, rule and process of the lab

Where the lab cannot run (macOS, no user namespaces) or the target is real AWS, ``running()`` is False
and the notebooks evaluate the security groups' rules instead (helpers/verify/).
"""

from __future__ import annotations

import time
from datetime import datetime

from ..errors import CourseError
from ..runtime import aws, cloud, lab_machine
from . import client, control, model
from . import probe as _probe
from .client import Reply

__all__ = [
    "CLIENT_ADDRESS", "can_run", "running", "up", "down", "without",
    "curl", "curl_until", "connect", "audit_predicts", "hosts", "synced",
    "target_health", "wait_for_health", "service_events", "wait_for_event",
]  # fmt: skip
WAIT_STEP = 0.5  # seconds between two looks at the target health or the service's events
CLIENT_ADDRESS = model.CLIENT_ADDRESS  # the learner's client in the lab's internet: what X-Forwarded-For says
SYNC_WITHIN = 20.0  # seconds: the lab re-syncs within 1 s of a change (make bench); more on a busy machine


def can_run() -> bool:
    """This machine can run the lab, and the course targets the emulator (the lab builds the emulator's network)."""
    return cloud.is_emulator() and lab_machine.check().ok


def running() -> bool:
    return can_run() and control.status()["running"]


def up() -> None:
    """Start the lab where it can run (idempotent) and say what it does (``running()`` tells afterwards)."""
    if not cloud.is_emulator():
        print("Traffic lab: off. On AWS your requests go through AWS itself.")
        return
    verdict = lab_machine.check()
    if not verdict.ok:
        print(f"Traffic lab: not on this machine ({verdict.detail}). The notebooks evaluate the rules instead.")
        return
    info = control.up(quiet=True)
    mode = "as root" if info["mode"] == "root" else "rootless, in a user namespace of its own"
    print(f"Traffic lab: up ({mode}). It follows the emulator: whatever you apply carries real packets.")


def down() -> list[str]:
    """Stop the lab and remove everything it made; prints how much that was."""
    removed = control.down() if lab_machine.check().ok else []
    print(f"Traffic lab: down, {len(removed)} namespace{'' if len(removed) == 1 else 's'} removed.")
    return removed


def without(what: str) -> None:
    """The one line a lab cell prints where the lab does not run: what it would have measured."""
    if not cloud.is_emulator():
        print(f"(On AWS this cell sends nothing; describe-target-health and the service's events show it: {what}.)")
        return
    print(f"(No traffic lab on this machine, so nothing is measured here. With the lab, {what}.)")


def curl(
    url: str, source: str = "internet", *, timeout: float = 15.0, headers: dict | None = None, insecure: bool = False
) -> Reply:
    """One request from ``source`` (the internet, an instance id, an ALB node), through the lab's DNS and groups.

    HTTPS verifies the certificate for the URL's name, as curl does: against the course's CA in the lab,
    the system's trust store on AWS. ``insecure=True`` (curl -k) shows it without checking, for a name the
    certificate does not cover (the load balancer's own). On real AWS the same call is a real request from
    this machine (the lab's client, without the lab).
    """
    if not cloud.is_emulator():
        return client.curl(url, timeout=timeout, headers=headers, insecure=insecure)
    return control.curl(url, source, timeout=timeout, headers=headers, insecure=insecure)


def connect(source: str, destination: str, port: int, *, timeout: float = _probe.DEFAULT_TIMEOUT) -> str:
    """A real TCP connection from ``source`` to ``destination``:``port`` (a temporary listener waits there).

    "reachable": the groups let it through and the listener answered; "refused": the groups let it
    through but nothing listens (the kernel answered with a reset); "blocked": a group dropped it.
    """
    return _probe.probe(model.read(), source, destination, port, timeout=timeout)


def audit_predicts(source: str, destination: str, port: int) -> str:
    """The reachability audit's prediction for ``connect(source, destination, port)``: "reachable" or "blocked"."""
    return _probe.predict(model.read(), source, destination, port)


def hosts(role: str) -> list[str]:
    """The ids of the lab's hosts of ``role``: "alb" (one node per load balancer subnet) or "ec2" (instances)."""
    return sorted(h.id for h in model.read().hosts if h.role == role)


def target_health(target_group_arn: str) -> list[tuple[str, int, str, str]]:
    """(instance, port, state, reason) of every registered target, in port order."""
    found = aws.client("elbv2").describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return sorted(
        (t["Target"]["Id"], t["Target"]["Port"], t["TargetHealth"]["State"], t["TargetHealth"].get("Reason", ""))
        for t in found
    )


def wait_for_health(target_group_arn: str, until, *, within: float, what: str) -> list[tuple[str, int, str, str]]:
    """The target health once ``until(targets)`` is true; a clear error after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        targets = target_health(target_group_arn)
        if until(targets):
            return targets
        if time.monotonic() > deadline:
            seen = ", ".join(f"{i}:{p} {s} {r}".rstrip() for i, p, s, r in targets) or "no registered target"
            raise CourseError(
                f"The targets did not become {what} within {within:.0f} s.",
                f"Target health now: {seen}.",
                "python -m helpers lab status shows what the lab runs; run the cell again to wait once more",
            )
        time.sleep(WAIT_STEP)


def service_events(cluster: str, service: str) -> list[str]:
    """The service's event messages, oldest first (ECS lists them newest first)."""
    return [e["message"] for e in _events(cluster, service)]


def _events(cluster: str, service: str) -> list[dict]:
    found = aws.client("ecs").describe_services(cluster=cluster, services=[service])["services"]
    return list(reversed(found[0].get("events", []))) if found else []


def wait_for_event(cluster: str, service: str, phrase: str, *, within: float, since: datetime | None = None) -> str:
    """The service's newest event containing ``phrase`` (written at ``since`` or later); a clear error after
    ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = [
            e
            for e in _events(cluster, service)
            if phrase in e["message"] and (since is None or e["createdAt"] >= since)
        ]
        if found:
            return found[-1]["message"]
        if time.monotonic() > deadline:
            raise CourseError(
                f"ECS wrote no event saying {phrase!r} within {within:.0f} s.",
                "The lab's stand-in for ECS writes the service's events as ECS words them; none matched yet.",
                "python -m helpers lab status shows what the lab runs; run the cell again to wait once more",
            )
        time.sleep(WAIT_STEP)


def synced(within: float = SYNC_WITHIN) -> None:
    """Return once the lab's filters are those of the emulator's current state (a change is followed within 1 s)."""
    wanted = model.read().fingerprint()
    deadline = time.monotonic() + within
    while control.status().get("fingerprint") != wanted:
        if time.monotonic() > deadline:
            raise CourseError(
                f"The lab did not follow the emulator's last change within {within:.0f} s.",
                control.status_text(),
                "python -m helpers lab status; if it is down: lab.up()",
            )
        time.sleep(0.1)


def curl_until(url: str, status: int, *, within: float, timeout: float = 15.0, insecure: bool = False) -> Reply:
    """Ask until the answer is ``status`` (the load balancer's nodes re-read their target group within a second
    of a change, as AWS's nodes pick up a change within seconds); the last reply after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        reply = curl(url, timeout=timeout, insecure=insecure)
        if reply.status == status or time.monotonic() > deadline:
            return reply
        time.sleep(WAIT_STEP)
