"""The traffic lab as the notebooks use it: ``from helpers import lab``.

A lab cell starts with the one line that says what it shows, then shows the request, its answer and the check:

    lab.needed("this request waits 10 s and gets 504 Gateway Timeout")
    reply = lab.curl_until(site, 504, timeout=30, insecure=True)  # site: the ALB's own name, not in the certificate
    print(reply.request, reply.summary, sep="\\n  ")
    assert reply.status == 504

    lab.up()                              start it where it can run (idempotent); says so in one line either way
    lab.can_run() / lab.running()         whether this machine can run the lab / whether it runs now
    lab.CLIENT_ADDRESS                    the client's address in the lab's internet (what X-Forwarded-For says)
    lab.needed(what, aws=True)            where the cell cannot run, stop it with one line: what it would have shown
                                          (aws=False: it needs the lab's own namespaces, so on AWS it stops too)
    lab.curl(url)                         a real request from the lab's internet (on AWS, from this machine): Reply
                                          (status, summary, request, headers, body, certificate_subject, verified,
                                          elapsed); the certificate is verified for the name (insecure=True: curl -k)
    lab.curl_until(url, status)           ask again until the load balancer answers ``status`` (live, bounded;
                                          timeout: each request's own limit, within: how long to keep asking)
    lab.connect(src, dst, port)           a real TCP connection (the CLI's lab probe): "reachable", "refused" or "blocked"
    lab.audit_predicts(src, dst, port)    what the reachability audit's evaluation says ``connect`` will answer
    lab.hosts(role)                       the lab's hosts of a role: "alb" (the load balancer's nodes), "ec2"
    lab.target_health(arn)                the target group's Targets: Target(instance, port, state, reason), sorted;
                                          .healthy, .unhealthy, .draining, .registered (not draining)
    lab.wait_until_unhealthy(arn)         the Targets once one is unhealthy and none healthy (live, bounded)
    lab.wait_until_healthy(arn, count)    ... once ``count`` are registered, all healthy (ECS's steady state)
    lab.wait_until_registered(arn, count) ... once ``count`` are registered and not draining
    lab.service_events(cluster, service)  the service's event messages, oldest first
    lab.wait_for_event(cluster, service, phrase, since=...)  the newest event that says ``phrase`` (live, bounded)
    lab.address(url)                      "app.ecs-alb.example/ over HTTPS": how the lessons print an address
    lab.down()                            remove every namespace, rule and process of the lab

The lab follows the emulator by itself; ``curl`` and ``connect`` first wait (bounded) until its kernel has the
emulator's current rules, so a cell that just changed a rule measures the new one. The waits show what they wait
for as they wait (helpers/lab/waits.py) and are bounded by the lab's timings, or AWS's on AWS.

On real AWS (COURSE_TARGET=aws) ``curl`` sends the same real request from this machine, and the target health and
events come from AWS; ``connect`` needs the lab's namespaces. Where the lab cannot run (macOS, no user namespaces),
``needed`` stops the lab's cells with their one line, and the notebooks evaluate the security groups' rules instead
(helpers/verify/).
"""

from __future__ import annotations

from datetime import datetime

from ..course import notebook, session
from ..errors import SkipCell
from ..runtime import cloud, lab_machine
from . import client, model, waits
from .client import Reply, address
from .control import commands as control
from .net import probe as _probe
from .targets import Target, Targets

__all__ = [
    "CLIENT_ADDRESS", "Target", "Targets", "address", "can_run", "running", "up", "down", "needed",
    "curl", "curl_until", "connect", "audit_predicts", "hosts", "target_health",
    "wait_until_unhealthy", "wait_until_healthy", "wait_until_registered", "service_events", "wait_for_event",
]  # fmt: skip
CLIENT_ADDRESS = model.CLIENT_ADDRESS  # the learner's client in the lab's internet: what X-Forwarded-For says
SYNC_WITHIN = control.SYNC_WITHIN  # seconds: a change is followed in about 0.1 s (make bench); a busy machine: more


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


def needed(what: str, *, aws: bool = True) -> None:
    """A lab cell's first line. Where the cell cannot do its work, it stops here with one line saying ``what`` it
    would have shown (``SkipCell``: no traceback; the cell counts as run). ``aws``: the cell also works on real
    AWS (requests, target health, events); False when it needs the lab's own namespaces (``connect``).

    In an exercise, the cell also stops while the exercise cannot run yet (earlier notebooks not applied, or a cell
    still holding blanks), as its ``tf.apply()`` skips.
    """
    if not cloud.is_emulator():
        if not aws:
            raise SkipCell(
                f"(On AWS this cell sends nothing: it needs the traffic lab's own network. With the lab, {what}.)"
            )
    elif not lab_machine.check().ok:
        raise SkipCell(f"(No traffic lab on this machine, so nothing is measured here. With the lab, {what}.)")
    elif not control.status()["running"]:
        raise SkipCell(
            f"(The traffic lab is not running: start it with lab.up() (notebook 00), then run this cell again. "
            f"With the lab, {what}.)"
        )
    blocked = _exercise_not_ready()
    if blocked:
        raise SkipCell(f"(Not run yet: {blocked} Then this cell shows that {what}.)")


def _exercise_not_ready() -> str | None:
    """Why the exercise of this kernel cannot run its lab cells yet (None: it can, or this is no exercise)."""
    pending = notebook.pending_blanks()
    if pending:
        return f"the cell writing {pending[0]} still has blanks (____): fill them in, run it and apply."
    guard = session.current().hcl_guard
    return guard() if guard else None


def curl(
    url: str, source: str = "internet", *, timeout: float = 15.0, headers: dict | None = None, insecure: bool = False
) -> Reply:
    """One request from ``source`` (the internet, an instance id, an ALB node), through the lab's DNS and groups,
    once the lab has the emulator's current rules.

    HTTPS verifies the certificate for the URL's name, as curl does: against the course's CA in the lab,
    the system's trust store on AWS. ``insecure=True`` (curl -k) shows it without checking, for a name the
    certificate does not cover (the load balancer's own). On real AWS the same call is a real request from
    this machine (the lab's client, without the lab).
    """
    if not cloud.is_emulator():
        return client.curl(url, timeout=timeout, headers=headers, insecure=insecure)
    _synced()
    return control.curl(url, source, timeout=timeout, headers=headers, insecure=insecure)


def curl_until(
    url: str, status: int, *, within: float | None = None, timeout: float = 15.0, insecure: bool = False
) -> Reply:
    """Ask until the answer is ``status``, showing each answer as it comes; the last reply after ``within`` seconds
    (default: the lab's bound, or AWS's). The load balancer's nodes re-read their target group within a second of a
    change, as AWS's nodes pick up a change within seconds."""
    return waits.until_status(
        lambda: curl(url, timeout=timeout, insecure=insecure), url, status, within=within or waits.bound("request")
    )


def connect(source: str, destination: str, port: int, *, timeout: float = _probe.DEFAULT_TIMEOUT) -> str:
    """A real TCP connection from ``source`` to ``destination``:``port`` (a temporary listener waits there), once the
    lab has the emulator's current rules.

    "reachable": the groups let it through and the listener answered; "refused": the groups let it
    through but nothing listens (the kernel answered with a reset); "blocked": a group dropped it.
    """
    return _probe.probe(_synced(), source, destination, port, timeout=timeout)


def audit_predicts(source: str, destination: str, port: int) -> str:
    """The reachability audit's prediction for ``connect(source, destination, port)``: "reachable" or "blocked"."""
    return _probe.predict(model.read(), source, destination, port)


def hosts(role: str) -> list[str]:
    """The ids of the lab's hosts of ``role``: "alb" (one node per load balancer subnet) or "ec2" (instances)."""
    return sorted(h.id for h in model.read().hosts if h.role == role)


def target_health(target_group_arn: str) -> Targets:
    """Every registered target, sorted by instance and port: ``Target(instance, port, state, reason)``."""
    return Targets.read(target_group_arn)


def wait_until_unhealthy(target_group_arn: str, *, within: float | None = None) -> Targets:
    """The targets once one is unhealthy and none is healthy: every target the load balancer could pick fails."""
    t = waits.health_timings(target_group_arn)
    return waits.until_targets(
        target_group_arn,
        lambda targets: bool(targets.unhealthy) and not targets.healthy,
        what="the targets to be unhealthy",
        why=f"a check every {t['interval']} s; {t['unhealthy']} failed in a row make a target unhealthy",
        within=within or waits.bound("unhealthy"),
    )


def wait_until_healthy(target_group_arn: str, count: int, *, within: float | None = None) -> Targets:
    """The targets once ``count`` are registered and all of them healthy: the steady state, in which ECS stops
    replacing tasks (a replacement could still be starting while ``count`` are healthy)."""
    t = waits.health_timings(target_group_arn)
    return waits.until_targets(
        target_group_arn,
        lambda targets: len(targets.healthy) == len(targets.registered) == count,
        what=f"{count} healthy target{'s' * (count != 1)}",
        why=f"a check every {t['interval']} s; a new target is healthy after its first passing check, "
        f"an unhealthy one after {t['healthy']} in a row",
        within=within or waits.bound("healthy"),
    )


def wait_until_registered(target_group_arn: str, count: int, *, within: float | None = None) -> Targets:
    """The targets once ``count`` of them are registered and not draining (ECS registers each task it starts)."""
    return waits.until_targets(
        target_group_arn,
        lambda targets: len(targets.registered) == count,
        what=f"{count} registered target{'s' * (count != 1)}",
        why="ECS starts each task, then registers its instance and host port",
        within=within or waits.bound("registered"),
    )


def service_events(cluster: str, service: str) -> list[str]:
    """The service's event messages, oldest first (ECS lists them newest first)."""
    return [e["message"] for e in waits.events(cluster, service)]


def wait_for_event(
    cluster: str, service: str, phrase: str, *, since: datetime | None = None, within: float | None = None
) -> str:
    """The service's newest event containing ``phrase`` (written at ``since`` or later), shown live as it waits; a
    clear error after ``within`` seconds (default: the lab's bound, or AWS's)."""
    return waits.until_event(cluster, service, phrase, since=since, within=within or waits.bound("event"))


def _synced(within: float = SYNC_WITHIN) -> model.Model:
    """The emulator's current network, once the lab's filters are built from it: the lab's supervisor hears of
    each write from the emulator and answers as soon as it has followed it (helpers/lab/control/commands.py's
    wait_synced; about 0.1 s, make bench)."""
    control.wait_synced(within)
    return model.read()
