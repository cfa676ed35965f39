"""helpers/lab/lesson.py, the lab as the notebooks use it (``from helpers import lab``): the one line a cell stops
with where the lab cannot run, the target health as named data, the bounded waits on the emulator's real answers,
the addresses printed as plain text, and the AWS path of ``curl`` against a real TLS server on loopback. The lab's
requests themselves run in notebooks 05-09 (nbval) and in exercise 07 (tests/exercises)."""

from __future__ import annotations

import http.server
import ssl
import threading
import time

import pytest

from helpers import CourseError
from helpers.errors import SkipCell
from helpers.lab import lesson
from helpers.lab.targets import Target, Targets
from helpers.runtime import aws, lab_machine
from helpers.tf import certificate


def test_the_facade_gives_the_lessons_functions_even_beside_the_labs_own_modules():
    import helpers.lab.net.probe  # noqa: F401 - the module of the same name must not hide the notebooks' connect
    from helpers import lab

    assert lab.connect is lesson.connect and lab.curl is lesson.curl and lab.up is lesson.up
    assert set(lesson.__all__) <= set(dir(lab))
    with pytest.raises(AttributeError):
        lab.no_such_thing  # noqa: B018


def test_targets_answer_the_lessons_questions_by_name():
    rows = [
        {"Target": {"Id": "i-1", "Port": 32769}, "TargetHealth": {"State": "draining", "Reason": "Target.DeregistrationInProgress"}},
        {"Target": {"Id": "i-1", "Port": 32768}, "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"}},
        {"Target": {"Id": "i-1", "Port": 32770}, "TargetHealth": {"State": "healthy"}},
    ]  # fmt: skip
    targets = Targets.of(rows)
    assert [t.port for t in targets] == [32768, 32769, 32770], "sorted by instance and port"
    assert targets.unhealthy == [Target("i-1", 32768, "unhealthy", "Target.Timeout")]
    assert [t.port for t in targets.healthy] == [32770] and [t.port for t in targets.draining] == [32769]
    assert [t.port for t in targets.registered] == [32768, 32770], "a draining target gets no new request"
    assert str(targets.unhealthy[0]) == "target i-1 port 32768: unhealthy (Target.Timeout)"
    assert str(targets.healthy[0]) == "target i-1 port 32770: healthy"
    instance, port, state, reason = targets[0]  # still a tuple where a cell unpacks one
    assert (instance, port, state, reason) == ("i-1", 32768, "unhealthy", "Target.Timeout")


@pytest.fixture
def empty_target_group(emulator_url):
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    arn = elbv2.create_target_group(Name="lesson-tg", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    yield arn
    elbv2.delete_target_group(TargetGroupArn=arn)
    ec2.delete_vpc(VpcId=vpc)


def test_a_wait_says_what_the_targets_do_when_its_time_is_up(empty_target_group, capsys):
    began = time.monotonic()
    with pytest.raises(CourseError) as raised:
        lesson.wait_until_registered(empty_target_group, 1, within=0.6)
    assert time.monotonic() - began < 30, "bounded by within (0.6 s; the rest is a loaded machine's margin)"
    text = str(raised.value)
    assert "did not become 1 registered target within 1 s" in text and "Target health now: none" in text
    assert "lab status" in text, "and the command that shows what the lab runs"
    shown = capsys.readouterr().err
    assert "waiting for 1 registered target" in shown, "outside a notebook the wait says what it waits for"
    assert "waited for 1 registered target: ECS starts each task, then registers its instance and host port" in shown


def test_a_wait_returns_the_targets_once_the_condition_holds(empty_target_group):
    assert lesson.wait_until_registered(empty_target_group, 0, within=1) == []


def test_a_wait_for_health_says_the_target_groups_own_timings(empty_target_group, capsys):
    with pytest.raises(CourseError):
        lesson.wait_until_healthy(empty_target_group, 2, within=0.3)
    # moto's defaults for a target group created without health check settings: every 30 s, 5 in a row
    assert "a check every 30 s; a new target is healthy after its first passing check" in capsys.readouterr().err


def test_needed_stops_a_cell_with_one_line_where_the_lab_cannot_run(monkeypatch):
    monkeypatch.setattr(lab_machine, "check", lambda: lab_machine.Verdict(False, "no nft"))
    with pytest.raises(SkipCell) as skipped:
        lesson.needed("this request gets 504")
    assert skipped.value.line == "(No traffic lab on this machine, so nothing is measured here. With the lab, this request gets 504.)"  # fmt: skip


def test_on_aws_needed_lets_requests_run_and_stops_what_needs_the_labs_namespaces(monkeypatch):
    monkeypatch.setenv("COURSE_TARGET", "aws")
    assert lesson.needed("this request gets 504") is None, "on AWS the same request goes through the real ALB"
    with pytest.raises(SkipCell, match=r"^\(On AWS this cell sends nothing: it needs the traffic lab's own network"):
        lesson.needed("lab.connect says 'reachable'", aws=False)


def test_addresses_print_as_plain_text_never_as_links():
    assert lesson.address("https://app.ecs-alb.example/") == "app.ecs-alb.example/ over HTTPS"
    assert lesson.address("https://app.ecs-alb.example:443/") == "app.ecs-alb.example:443/ over HTTPS"
    assert lesson.address("http://203.0.113.7:32768") == "203.0.113.7:32768/ over HTTP"
    # JupyterLab links what matches its web-link pattern: a scheme and "://", or "www." (rendermime's autolink)
    assert all("://" not in lesson.address(u) for u in ("https://a.example/x?q=1", "http://10.0.0.1/"))


class _Statuses(http.server.BaseHTTPRequestHandler):
    """Answers the statuses of ``answers`` in turn (the last one from then on), as a load balancer would."""

    answers: list[int] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        body = b'{"ok":true}' if status == 200 else b"<html>error</html>"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path):
    """A real HTTPS server on loopback, with a certificate the course's CA signs for another name (as the ALB's
    own DNS name is not on the listener's certificate: 07 asks it with insecure=True, as curl -k)."""
    cert, key = certificate.issue(folder=tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Statuses)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_on_aws_curl_until_sends_real_requests_and_shows_each_answer(tls_server, monkeypatch, capsys):
    """COURSE_TARGET=aws: lab.curl is the lab's client from this machine, no lab, no emulator (here: a loopback TLS
    server standing in for the ALB, answering 503, then 503, then 200)."""
    monkeypatch.setenv("COURSE_TARGET", "aws")
    _Statuses.answers = [503, 503, 200]
    reply = lesson.curl_until(tls_server, 200, within=20, timeout=5, insecure=True)
    assert reply.status == 200 and reply.json() == {"ok": True}
    assert reply.request == f"GET {tls_server.split('://')[1]} over HTTPS"
    shown = capsys.readouterr().err
    assert shown.count("503 Service Unavailable: no target registered at this moment; asking again") == 2, shown
    assert "waited for 200: a target answered" in shown
