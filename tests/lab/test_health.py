"""The health-check state machine and the real checker (helpers/lab/alb/health.py).

Counting as AWS documents it, https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html :
one pass after registration makes a target healthy; UnhealthyThresholdCount consecutive failures take it
out of service; HealthyThresholdCount consecutive passes put it back; checks every interval, whatever
a check's duration. Reason codes: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html
"""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading

import pytest

from helpers.errors import CourseError
from helpers.lab.alb import health
from helpers.lab.alb.config import HealthCheck, Target, TargetGroup

CHECK = HealthCheck(interval=10, timeout=5, healthy_threshold=3, unhealthy_threshold=2, matcher="200-299")
OK, TIMEOUT, REFUSED = health.CheckResult.ok(), health.CheckResult.timeout(), health.CheckResult.failed()


def test_registration_then_initial_checking_then_healthy_after_one_pass():
    """Elb.RegistrationInProgress until the first check is sent, Elb.InitialHealthChecking while it runs, one pass: healthy."""
    t = health.TargetHealth(CHECK, now=0)
    assert t.current(0) == health.REGISTERING and t.due(0)
    t.started(0)
    assert t.current(0) == health.INITIAL and not t.due(9.9) and t.due(10)
    assert t.record(OK) == health.HEALTHY and t.routable


def test_initial_target_failing_becomes_unhealthy_at_the_threshold():
    """From initial, UnhealthyThresholdCount consecutive failures: unhealthy with the failure's reason code."""
    t = health.TargetHealth(CHECK, now=0)
    t.started(0)
    assert t.record(REFUSED) == health.INITIAL
    assert t.record(TIMEOUT) == health.Health("unhealthy", "Target.Timeout", "Request timed out")
    assert not t.routable


def test_healthy_needs_consecutive_failures_and_unhealthy_consecutive_passes():
    """healthy → unhealthy after 2 failures in a row (a pass in between resets); back after 3 passes in a row."""
    t = health.TargetHealth(CHECK, now=0)
    t.started(0)
    t.record(OK)
    assert t.record(TIMEOUT) == health.HEALTHY
    assert t.record(OK) == health.HEALTHY  # the count of failures starts again
    t.record(health.CheckResult.mismatch(404))
    assert t.record(health.CheckResult.mismatch(500)) == health.Health(
        "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [500]"
    )
    assert t.record(REFUSED).reason == "Target.FailedHealthChecks"  # an unhealthy target shows its latest failure
    t.record(OK)
    assert t.record(OK).state == "unhealthy"
    assert t.record(OK) == health.HEALTHY


def test_checks_keep_their_interval_whatever_a_check_takes():
    """Each check 'lasts the entire interval': the next is due one interval after the last one started."""
    t = health.TargetHealth(CHECK, now=100)
    t.started(100)
    assert [t.due(x) for x in (105, 109.9, 110)] == [False, False, True]
    t.started(113)  # started late (the loop was busy): the next one is at 120, not 123
    assert t.due(120)


def test_deregistered_target_drains_for_the_delay_then_is_unused():
    """draining / Target.DeregistrationInProgress for deregistration_delay, then unused / Target.NotRegistered."""
    t = health.TargetHealth(CHECK, now=0)
    t.started(0)
    t.record(OK)
    t.deregister(50, delay=30)
    assert t.current(79) == health.DRAINING and not t.due(79) and not t.routable
    assert t.record(OK) == health.DRAINING  # a late result changes nothing
    assert t.current(80) == health.UNUSED


@pytest.mark.parametrize(
    ("matcher", "code", "expected"),
    [("200", 200, True), ("200", 204, False), ("200-299", 299, True), ("200,302", 302, True), ("200,302", 301, False)],
)
def test_matcher(matcher, code, expected):
    """Matcher HttpCode: one code, a range or a list (target-group-health-checks.html, 'Matcher')."""
    assert health.matches(matcher, code) is expected


def test_matcher_outside_what_an_alb_accepts_is_one_clear_message():
    with pytest.raises(CourseError, match="200 to 499"):
        health.matches("600", 200)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = {"/ok": 200, "/missing": 404}.get(self.path, 500)
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"hi")

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    server = http.server.ThreadingHTTPServer(("127.0.0.21", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent():
    """A listener that accepts and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.21", 0))
    sock.listen(8)
    yield sock.getsockname()
    sock.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.21", 0))
        return s.getsockname()[1]


def test_real_checks_give_the_aws_reason_codes(backend, silent):
    """A real GET per check: pass, ResponseCodeMismatch, FailedHealthChecks (refused), Timeout (no answer in time)."""
    host, port = backend
    quick = HealthCheck(path="/ok", timeout=0.5, matcher="200")

    async def run():
        return [
            await health.probe(host, port, quick),
            await health.probe(host, port, HealthCheck(path="/missing", timeout=0.5)),
            await health.probe(host, _closed_port(), quick),
            await health.probe(*silent, quick),
        ]

    ok, mismatch, refused, timeout = asyncio.run(run())
    assert ok.passed
    assert (mismatch.reason, mismatch.description) == (
        "Target.ResponseCodeMismatch",
        "Health checks failed with these codes: [404]",
    )
    assert refused.reason == "Target.FailedHealthChecks"
    assert timeout.reason == "Target.Timeout"


def test_monitor_follows_registrations_and_reports_changes():
    """The monitor checks each registered target, reports the transitions, and drains a target that left."""
    now = [0.0]
    answers = {"a": OK, "b": TIMEOUT}

    async def prober(address, port, check):
        return answers[address]

    check = HealthCheck(interval=5, healthy_threshold=2, unhealthy_threshold=1)
    group = TargetGroup("tg", "tg", "HTTP", 80, check, 20.0, (Target("a", 1, "a"), Target("b", 2, "b")))

    async def run():
        monitor = health.Monitor(clock=lambda: now[0], prober=prober)
        monitor.sync({"tg": group})
        first = monitor.tick()
        await asyncio.sleep(0)
        second = monitor.tick()
        now[0] = 1
        monitor.sync({"tg": TargetGroup("tg", "tg", "HTTP", 80, check, 20.0, (Target("a", 1, "a"),))})
        third = monitor.tick()
        now[0] = 21
        monitor.sync({"tg": TargetGroup("tg", "tg", "HTTP", 80, check, 20.0, (Target("a", 1, "a"),))})
        fourth = monitor.tick()
        await monitor.close()
        return first, second, third, fourth

    first, second, third, fourth = asyncio.run(run())
    assert first["tg"] == {("a", 1): health.INITIAL, ("b", 2): health.INITIAL}
    assert second["tg"] == {
        ("a", 1): health.HEALTHY,
        ("b", 2): health.Health("unhealthy", "Target.Timeout", "Request timed out"),
    }
    assert third["tg"] == {("b", 2): health.DRAINING}
    assert fourth["tg"][("b", 2)] == health.UNUSED


def test_a_drained_target_is_not_drained_again_from_a_configuration_read_before_it_was():
    """Health results no longer make the nodes read their configuration again (issue 23), so a node may still hold
    a read that lists a drained target as draining: the monitor forgets it once, and drains it again only after a
    new registration."""
    now = [0.0]

    async def prober(address, port, check):
        return OK

    check = HealthCheck(interval=5, healthy_threshold=2, unhealthy_threshold=1)
    draining = TargetGroup("tg", "tg", "HTTP", 80, check, 20.0, (Target("b", 2, "b", draining=True),))
    registered = TargetGroup("tg", "tg", "HTTP", 80, check, 20.0, (Target("b", 2, "b"),))

    async def run():
        monitor = health.Monitor(clock=lambda: now[0], prober=prober)
        monitor.sync({"tg": draining})
        monitor.tick()
        now[0] = 21
        monitor.sync({"tg": draining})
        drained = monitor.tick()
        now[0] = 22
        monitor.sync({"tg": draining})  # the same, older read
        after = (monitor.tick(), monitor.health("tg", "b", 2))
        monitor.sync({"tg": registered})  # registered again: checked again
        again = monitor.tick()
        await monitor.close()
        return drained, after, again

    drained, after, again = asyncio.run(run())
    assert drained["tg"] == {("b", 2): health.UNUSED}
    assert after == ({}, None), "not drained a second time (it would publish draining again, for 20 s)"
    assert again["tg"] == {("b", 2): health.INITIAL}
