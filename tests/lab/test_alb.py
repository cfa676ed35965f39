"""The lab's load balancer (helpers/lab/alb/node.py) on loopback, one AWS behaviour per test.

Each test builds its load balancer in the session's emulator with boto3, runs the data plane
in-process on a loopback address of its own with a high port, and sends real requests to real
backends (tiny Python HTTP servers, and nginx) on loopback. The docstrings cite the AWS page
each behaviour comes from.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers.errors import CourseError
from helpers.lab import changes
from helpers.lab.alb import config as alb_config
from helpers.lab.alb import node as alb
from helpers.lab.alb import router
from helpers.lab.alb import tls as tls_policy
from helpers.lab.client import Reply, curl
from helpers.lab.net.netns import Netns
from helpers.runtime import aws
from helpers.tf import certificate
from tests.support import alb_support
from tests.support.alb_support import DOMAIN, Lab, free_port, next_address
from tests.support.waiting import wait_until

lab = alb_support.lab  # the fixtures: a load balancer in the emulator, the course's pair in ACM
imported_certificate = alb_support.imported_certificate

REPO = Path(__file__).resolve().parents[2]
NODE_START = 30.0  # seconds for a node process to start and run its first check, under a busy make test
# What a loaded machine may add to a documented timing (the emulator's answers, a worker's turn on the CPU). A
# wait ends at its event, so the margin costs nothing when the machine is quick; it only keeps a busy one green.
LOADED = 15.0


class Backend:
    """A tiny HTTP/1.1 server on loopback: GET /health answers `health_status`; anything else 200 with
    a JSON echo of what it received (its name, path, headers). `mode` makes it misbehave."""

    def __init__(self, name: str, mode: str = "ok"):
        self.name, self.mode, self.health_status = name, mode, 200
        self.address = next_address()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.address, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.seen: list[dict] = []
        self.stopping = False
        if mode != "silent":  # silent: the kernel completes the handshake, nobody ever reads or answers
            threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket):
        if self.mode == "tls":  # an HTTPS target, with the course's pair (its CA signed it)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*certificate.issue())
            try:
                conn = ctx.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                return
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
            except OSError:
                return
            line, *header_lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
            method, path, _ = line.split(" ")
            headers = dict(h.split(": ", 1) for h in header_lines)
            if path == "/health":
                status, body = self.health_status, b"health"
            else:
                self.seen.append({"path": path, "headers": headers})
                if self.mode == "malformed":
                    conn.sendall(b"this is not HTTP\r\n\r\n")
                    return
                if self.mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return
                status, body = 200, json.dumps({"backend": self.name, "path": path, "headers": headers}).encode()
            conn.sendall(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )

    def close(self):
        self.stopping = True
        self.sock.close()


@pytest.fixture
def backends():
    made: list[Backend] = []

    def make(name: str, mode: str = "ok") -> Backend:
        made.append(Backend(name, mode))
        return made[-1]

    yield make
    for b in made:
        b.close()


def url(lab: Lab, port: int, path: str = "/", scheme: str = "http") -> str:
    return f"{scheme}://{lab.address}:{port}{path}"


# --------------------------------------------------------------------------- forwarding


def test_forward_adds_x_forwarded_headers_and_drops_invalid_header_names(lab, backends, emulator_url):
    """The backend sees X-Forwarded-For (client address appended to one it sent), -Proto and -Port.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html
    """
    backend = backends("a")
    port = lab.forward(lab.group(backend))
    lab.elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=lab.arn,
        Attributes=[{"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"}],
    )
    lab.start(emulator_url)
    sent = {"X-Forwarded-For": "203.0.113.7", "X_Bad.Name": "1", "X-Good-Name": "2"}
    reply = curl(url(lab, port, "/x?y=1"), headers=sent)
    assert reply.status == 200, reply
    seen = reply.json()["headers"]
    assert seen["X-Forwarded-For"] == "203.0.113.7, 127.0.0.1"
    assert (seen["X-Forwarded-Proto"], seen["X-Forwarded-Port"]) == ("http", str(port))
    assert seen["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert reply.json()["path"] == "/x?y=1"
    # routing.http.drop_invalid_header_fields.enabled (terraform/alb.tf sets it): only [-A-Za-z0-9]+ names pass
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#load-balancer-attributes
    assert seen["X-Good-Name"] == "2" and "X_Bad.Name" not in seen


def test_no_registered_targets_is_503(lab, emulator_url):
    """A target group with no registered targets: 503 Service Temporarily Unavailable, the ALB's own page.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-503-issues
    """
    port = lab.forward(lab.group())
    lab.start(emulator_url)
    reply = curl(url(lab, port))
    assert reply.status == 503
    assert b"<h1>503 Service Temporarily Unavailable</h1>" in reply.body
    assert reply.header("Server") == "awselb/2.0"


def test_healthy_targets_in_turn_and_fail_open_when_all_are_unhealthy(lab, backends, emulator_url):
    """Round robin over healthy targets only; when every registered target is unhealthy, to all of them.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
    ("If a target group contains only unhealthy registered targets, the load balancer routes requests to all
    those targets, regardless of their health status.")
    """
    a, b, c = backends("a"), backends("b"), backends("c")
    c.health_status = 500
    group = lab.group(a, b, c, interval=5, unhealthy=2)
    port = lab.forward(group)
    lab.start(emulator_url)
    rows = lab.wait_health(group, {"healthy", "unhealthy"}, within=5 + LOADED, until=lambda rows: len(rows) == 3)
    assert rows[(c.address, c.port)]["Reason"] == "Target.ResponseCodeMismatch"
    assert {curl(url(lab, port)).json()["backend"] for _ in range(6)} == {"a", "b"}  # in turn, never c
    a.health_status = b.health_status = 503
    lab.wait_health(group, {"unhealthy"}, within=5 * 2 + LOADED)  # interval x threshold
    answered = [curl(url(lab, port)) for _ in range(6)]
    assert {r.status for r in answered} == {200}
    assert {r.json()["backend"] for r in answered} == {"a", "b", "c"}  # fail open


def test_refused_connection_is_502(lab, emulator_url):
    """The target refuses the connection: 502 Bad Gateway.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-502-issues
    """
    address = next_address()
    group = lab.group()
    lab.elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": address, "Port": free_port(address)}])
    port = lab.forward(group)
    lab.start(emulator_url)
    reply = curl(url(lab, port))
    assert reply.status == 502 and b"<h1>502 Bad Gateway</h1>" in reply.body


@pytest.mark.parametrize("mode", ["malformed", "reset"])
def test_malformed_or_reset_answer_is_502(lab, backends, emulator_url, mode):
    """The target answers something that is not HTTP, or resets the connection: 502 Bad Gateway.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-502-issues
    """
    backend = backends("bad", mode)
    port = lab.forward(lab.group(backend))
    lab.start(emulator_url)
    reply = curl(url(lab, port))
    assert reply.status == 502
    assert backend.seen  # the request did reach the target


def test_no_answer_within_the_idle_timeout_is_504(lab, backends, emulator_url):
    """The target accepts the connection and never answers: 504 after the idle timeout (attribute set to 1 s).

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-504-issues
    """
    backend = backends("silent", "silent")
    port = lab.forward(lab.group(backend))
    lab.idle_timeout(1)
    lab.start(emulator_url)
    reply = curl(url(lab, port), timeout=1 + LOADED)  # the attribute's 1 s, with the loaded machine's margin
    assert reply.status == 504 and b"<h1>504 Gateway Time-out</h1>" in reply.body, reply.status
    assert reply.elapsed > 0.9, reply.elapsed  # not before the idle timeout; the default 60 s would be a status 0


# --------------------------------------------------------------------------- actions and rules


def test_redirect_location_as_aws_builds_it(lab, emulator_url):
    """HTTP → HTTPS redirect: 301, Location https://#{host}:443/#{path}?#{query} (unset parts are the request's).

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html#redirect-actions
    """
    _, port = lab.listener(
        [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}]
    )
    _, other = lab.listener(
        [
            {
                "Type": "redirect",
                "RedirectConfig": {
                    "Host": "new.#{host}",
                    "Path": "/v2/#{path}",
                    "Query": "#{query}&from=#{port}",
                    "StatusCode": "HTTP_302",
                },
            }
        ]
    )
    lab.start(emulator_url)
    reply = curl(f"http://app.example:{port}/a/b?q=1", resolve=f"app.example:{port}:{lab.address}")
    assert reply.status == 301
    assert reply.header("Location") == "https://app.example:443/a/b?q=1"
    assert curl(url(lab, port, "/")).header("Location") == f"https://{lab.address}:443/"  # no query: no "?"
    moved = curl(f"http://app.example:{other}/a?q=1", resolve=f"app.example:{other}:{lab.address}")
    assert moved.status == 302
    assert moved.header("Location") == f"http://new.app.example:{other}/v2/a?q=1&from={other}"


def test_path_pattern_rules_in_priority_order_then_the_default(lab, backends, emulator_url):
    """Rules by priority, path patterns with * and ?, case-sensitive; no rule matches: the default action.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html#path-conditions
    """
    api, web = backends("api"), backends("web")
    listener, port = lab.listener(
        [
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "Not found"},
            }
        ]
    )

    def rule(priority, patterns, group):
        lab.elbv2.create_rule(
            ListenerArn=listener,
            Priority=priority,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": patterns}}],
            Actions=[{"Type": "forward", "TargetGroupArn": group}],
        )

    rule(20, ["/*"], lab.group(web))
    rule(10, ["/api/v?/*"], lab.group(api))
    lab.start(emulator_url)
    assert curl(url(lab, port, "/api/v1/users")).json()["backend"] == "api"
    assert curl(url(lab, port, "/api/v10/users")).json()["backend"] == "web"  # ? is exactly one character
    assert curl(url(lab, port, "/API/v1/users")).json()["backend"] == "web"  # case-sensitive
    assert curl(url(lab, port, "/index.html")).json()["backend"] == "web"
    rules = lab.elbv2.describe_rules(ListenerArn=listener)["Rules"]
    lab.elbv2.delete_rule(RuleArn=next(r["RuleArn"] for r in rules if r["Priority"] == "20"))
    # The data plane re-reads its configuration every second (alb.REFRESH); ask until it has, bounded (a loaded
    # machine may delay the re-read: how soon is make bench's question, not this test's).
    missed = wait_until(
        lambda: curl(url(lab, port, "/index.html")),
        until=lambda reply: reply.status == 404,
        within=20,
        what="the deleted rule's path answered by the default action",
        every=alb.REFRESH / 4,
    )
    assert (missed.status, missed.body, missed.header("Content-Type")) == (404, b"Not found", "text/plain")


# --------------------------------------------------------------------------- TLS

POLICIES = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html"


@pytest.fixture
def https_listeners(lab, backends, emulator_url, imported_certificate):
    """Two HTTPS listeners forwarding to an HTTPS backend: AWS's recommended policy, and the API's 2016-08."""
    group = lab.group(backends("tls"))
    forward = [{"Type": "forward", "TargetGroupArn": group}]
    certs = [{"CertificateArn": imported_certificate}]
    _, recommended = lab.listener(forward, "HTTPS", Certificates=certs, SslPolicy=tls_policy.RECOMMENDED)
    _, legacy = lab.listener(forward, "HTTPS", Certificates=certs, SslPolicy="ELBSecurityPolicy-2016-08")
    lab.start(emulator_url)
    return recommended, legacy


def _s_client(lab: Lab, port: int, *options: str) -> subprocess.CompletedProcess:
    """One handshake with the real openssl client (nothing sent: stdin is empty); -brief prints the session."""
    argv = ["openssl", "s_client", "-brief", "-connect", f"{lab.address}:{port}", "-servername", DOMAIN, *options]
    return subprocess.run(argv, input="", capture_output=True, text=True, timeout=30)


def _session(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


def test_the_recommended_policy_is_described_as_aws_documents_it(emulator_url):
    """ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09: TLS 1.3 and 1.2; the three TLS 1.3 suites and, for TLS 1.2,
    the four ECDHE AES-GCM ciphers ("Res"). The lab reads it with DescribeSSLPolicies, as the emulator has it.
    """
    policy = tls_policy.describe(tls_policy.RECOMMENDED)
    assert policy.protocols == ("TLSv1.3", "TLSv1.2") and policy.post_quantum
    assert policy.versions == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    assert set(policy.tls13_suites) == {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    }
    assert set(policy.tls12_ciphers) == {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    }
    assert tls_policy.describe(None).name == "ELBSecurityPolicy-2016-08", "the API's default, given no policy"


def test_unknown_security_policy_is_one_clear_message(emulator_url):
    with pytest.raises(CourseError, match="cannot serve the security policy") as raised:
        tls_policy.describe("ELBSecurityPolicy-Made-Up")
    assert tls_policy.RECOMMENDED in str(raised.value), "the fix names the policy AWS recommends"


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command-line client")
def test_https_listener_serves_its_policys_versions_and_ciphers_to_a_real_client(lab, https_listeners):
    """openssl s_client against ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09: TLS 1.3, and TLS 1.2 with each of the
    policy's RSA ciphers (the certificate is RSA, so its ECDSA ciphers cannot be chosen), are accepted; TLS 1.1 and
    a TLS 1.2 cipher outside the policy are refused, while the 2016-08 listener accepts the same client offers.
    """
    recommended, legacy = https_listeners
    policy = tls_policy.describe(tls_policy.RECOMMENDED)
    verify = ["-CAfile", str(certificate.authority_file()), "-verify_return_error", "-verify_hostname", DOMAIN]

    tls13 = _s_client(lab, recommended, "-tls1_3", *verify)
    assert tls13.returncode == 0, _session(tls13)
    assert "Protocol version: TLSv1.3" in _session(tls13) and "Verification: OK" in _session(tls13)

    rsa = [c for c in policy.tls12_ciphers if "-RSA-" in c]
    assert len(rsa) == 2
    for cipher in rsa:
        tls12 = _s_client(lab, recommended, "-tls1_2", "-cipher", cipher, *verify)
        assert tls12.returncode == 0, _session(tls12)
        assert f"Ciphersuite: {cipher}" in _session(tls12) and "Protocol version: TLSv1.2" in _session(tls12)

    outside = "ECDHE-RSA-AES128-SHA256"  # CBC: in ELBSecurityPolicy-TLS13-1-2-2021-06 and 2016-08, not in "Res"
    assert outside not in policy.ciphers
    refused = _s_client(lab, recommended, "-tls1_2", "-cipher", outside)
    assert refused.returncode != 0 and "Ciphersuite" not in _session(refused)
    accepted = _s_client(lab, legacy, "-tls1_2", "-cipher", outside)
    assert accepted.returncode == 0 and f"Ciphersuite: {outside}" in _session(accepted), _session(accepted)

    old = ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]  # let this client offer TLS 1.1 at all
    refused = _s_client(lab, recommended, *old)
    assert refused.returncode != 0 and "Protocol version" not in _session(refused)
    accepted = _s_client(lab, legacy, *old)
    assert accepted.returncode == 0 and "Protocol version: TLSv1.1" in _session(accepted), _session(accepted)


def test_a_verified_request_succeeds_for_the_certificates_name_and_fails_for_another(lab, https_listeners):
    """The lab's client verifies the listener's certificate against the course's CA, as a client on AWS verifies
    ACM's: the right name answers 200; another name, or a client that does not trust the CA, gets curl's error 60.
    """
    recommended, _ = https_listeners
    ca = certificate.authority_file()
    right = curl(f"https://{DOMAIN}:{recommended}/", resolve=f"{DOMAIN}:{recommended}:{lab.address}", cafile=ca)
    assert right.status == 200 and right.verified and right.certificate_subject == f"CN={DOMAIN}"
    assert right.json()["headers"]["X-Forwarded-Proto"] == "https"

    other = "other.ecs-alb.example"
    wrong = curl(f"https://{other}:{recommended}/", resolve=f"{other}:{recommended}:{lab.address}", cafile=ca)
    assert wrong.status == 0 and not wrong.verified
    assert wrong.error.startswith("(60)") and f"not valid for {other}" in wrong.error, wrong.error

    untrusted = curl(f"https://{DOMAIN}:{recommended}/", resolve=f"{DOMAIN}:{recommended}:{lab.address}")
    assert untrusted.status == 0 and "does not chain to the system's trusted authorities" in untrusted.error

    shown = curl(f"https://{other}:{recommended}/", resolve=f"{other}:{recommended}:{lab.address}", insecure=True)
    assert shown.status == 200 and not shown.verified and shown.certificate_subject == f"CN={DOMAIN}"


@pytest.mark.skipif(not shutil.which("curl"), reason="needs the curl command-line client")
def test_real_curl_trusts_the_course_ca_for_the_certificates_name_only(lab, https_listeners):
    """curl --cacert with the course's CA: 200 for the certificate's name; exit 60 (peer certificate cannot be
    authenticated) for another name."""
    recommended, _ = https_listeners
    ca = str(certificate.authority_file())

    def real_curl(name: str) -> subprocess.CompletedProcess:
        argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "--cacert", ca]
        argv += ["--resolve", f"{name}:{recommended}:{lab.address}", f"https://{name}:{recommended}/"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    right = real_curl(DOMAIN)
    assert (right.returncode, right.stdout) == (0, "200"), right.stderr
    wrong = real_curl("other.ecs-alb.example")
    assert wrong.returncode == 60, (wrong.returncode, wrong.stderr)


# --------------------------------------------------------------------------- health, written back


def test_health_checks_run_and_are_visible_in_describe_target_health(lab, backends, emulator_url):
    """The node's real checks reach boto3: healthy, Target.ResponseCodeMismatch, Target.FailedHealthChecks.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
    """
    good, bad = backends("good"), backends("bad")
    bad.health_status = 404
    gone = next_address()
    group = lab.group(good, bad, interval=5, unhealthy=2)
    lab.elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": gone, "Port": free_port(gone)}])
    lab.forward(group)
    lab.start(emulator_url)
    first = lab.wait_health(
        group,
        {"healthy", "initial"},
        within=LOADED,  # the first pass runs as the node starts
        until=lambda rows: rows[(good.address, good.port)]["State"] == "healthy",
    )
    assert first[(good.address, good.port)]["State"] == "healthy"  # one pass after registration
    assert first[(bad.address, bad.port)]["Reason"] == "Elb.InitialHealthChecking"
    rows = lab.wait_health(group, {"healthy", "unhealthy"}, within=5 + LOADED)
    assert rows[(bad.address, bad.port)] == {
        "State": "unhealthy",
        "Reason": "Target.ResponseCodeMismatch",
        "Description": "Health checks failed with these codes: [404]",
    }
    assert [h["Reason"] for k, h in rows.items() if k[0] == gone] == ["Target.FailedHealthChecks"]


def test_deregistered_target_drains_then_is_gone(lab, backends, emulator_url):
    """Deregistration: draining / Target.DeregistrationInProgress for deregistration_delay, no new requests, then gone.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay
    """
    a, b = backends("a"), backends("b")
    group = lab.group(a, b)
    lab.elbv2.modify_target_group_attributes(
        TargetGroupArn=group, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "10"}]
    )
    port = lab.forward(group)
    lab.start(emulator_url)
    lab.wait_health(group, {"healthy"}, within=LOADED)
    lab.elbv2.deregister_targets(TargetGroupArn=group, Targets=[{"Id": b.address, "Port": b.port}])
    assert lab.health(group)[(b.address, b.port)]["State"] == "draining"
    # The nodes take the change up at their next look (REFRESH); bounded loosely: the worker may wait for the CPU.
    wait_until(
        lambda: {curl(url(lab, port)).json()["backend"] for _ in range(4)},
        until=lambda backends: backends == {"a"},
        within=alb.REFRESH + LOADED,
        what="only the registered target answering",
        every=0.2,
    )
    assert lab.health(group)[(b.address, b.port)]["State"] == "draining", "still draining: the check means something"
    assert {curl(url(lab, port)).json()["backend"] for _ in range(4)} == {"a"}, "a draining target gets no new request"
    wait_until(
        lambda: lab.health(group),
        until=lambda rows: (b.address, b.port) not in rows,
        within=10 + LOADED,  # deregistration_delay
        what="the drained target gone",
        every=0.2,
    )


# --------------------------------------------------------------------------- a real nginx behind it


@pytest.fixture
def nginx(tmp_path):
    """Debian's nginx on a loopback address, answering with the X-Forwarded-* it received."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not binary:
        message = "nginx is not installed (apt-get install nginx-light), so the test with a real nginx is skipped"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    address = next_address()
    port = free_port(address)
    for folder in ("logs", "tmp"):
        (tmp_path / folder).mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"""daemon off; worker_processes 1; pid {tmp_path}/nginx.pid; error_log stderr;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp_path}/tmp; proxy_temp_path {tmp_path}/tmp; fastcgi_temp_path {tmp_path}/tmp;
  uwsgi_temp_path {tmp_path}/tmp; scgi_temp_path {tmp_path}/tmp;
  server {{
    listen {address}:{port};
    location / {{ default_type text/plain; return 200 "nginx saw $http_x_forwarded_for $http_x_forwarded_proto\\n"; }}
  }}
}}
"""
    )
    proc = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"])
    try:
        wait_until(  # a process start: nginx listens within a second on a quiet machine
            lambda: socket.create_connection((address, port), timeout=0.5).close() or True,
            within=NODE_START,
            what="nginx listening",
            every=0.05,
            ignoring=(OSError,),
        )
        yield address, port
    finally:
        proc.terminate()
        proc.wait(10)


def test_forward_to_a_real_nginx(lab, nginx, emulator_url):
    """A real nginx target: it passes its health check and answers through the load balancer.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
    """
    address, port = nginx
    group = lab.group(path="/")
    lab.elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": address, "Port": port}])
    listener = lab.forward(group)
    lab.start(emulator_url)
    assert lab.wait_health(group, {"healthy"}, within=LOADED)
    reply = curl(url(lab, listener))
    assert (reply.status, reply.text) == (200, "nginx saw 127.0.0.1 http\n")
    assert reply.header("Server").startswith("nginx")


# --------------------------------------------------------------------------- the process and the client's CLI


def test_shared_config_is_one_read_per_refresh_for_every_node():
    """SharedConfig: a read younger than max_age is handed to the next node; a failed read raises to each."""
    now = {"t": 0.0}
    reads = []

    def read():
        reads.append(now["t"])
        if now["t"] >= 3:
            raise RuntimeError("the emulator restarting")
        return f"config read at {now['t']}"

    shared = alb.SharedConfig(read, max_age=0.9, clock=lambda: now["t"])
    assert shared.get() == shared.get() == "config read at 0.0"  # two nodes, one read
    now["t"] = 0.5
    assert shared.get() == "config read at 0.0"
    now["t"] = 1.0
    assert shared.get() == "config read at 1.0" and shared.get() == "config read at 1.0"
    now["t"] = 3.0
    for _ in range(2):  # the error too is one read, handed to every node
        with pytest.raises(RuntimeError, match="restarting"):
            shared.get()
    assert reads == [0.0, 1.0, 3.0] and shared.reads == 3
    key = ("http://emulator", "us-east-1", "arn:lb")
    with alb.SharedConfig.used(key, read) as first, alb.SharedConfig.used(key, lambda: None) as second:
        assert first is second and first.read is read  # the nodes of one load balancer share one
    with alb.SharedConfig.used(key, lambda: None) as later:
        assert later is not first  # forgotten once no node uses it


def test_two_node_programs_of_one_load_balancer_share_one_read_of_each_change(lab, backends, emulator_url, monkeypatch):
    """alb.program as the supervisor runs it: threads, stopped by their event; the two nodes of one load
    balancer both serve it, and together read its configuration once after a write to the emulator, not once per
    node, and not every second while nothing is written (helpers/lab/changes.py)."""
    backend = backends("shared")
    group = lab.group(backend)
    port = lab.forward(group)
    reads = []
    real = alb_config.read
    monkeypatch.setattr(alb_config, "read", lambda *a, **kw: reads.append(time.monotonic()) or real(*a, **kw))
    looks: dict[alb.Balancer, list[float]] = {}  # each node's finished looks at its configuration, by when they began

    class Recorded(alb.Balancer):
        def __init__(self, load, *args, **kwargs):
            def recorded_load():
                began = time.monotonic()
                try:
                    return load()
                finally:
                    looks.setdefault(self, []).append(began)

            super().__init__(recorded_load, *args, **kwargs)

    monkeypatch.setattr(alb, "Balancer", Recorded)

    def both_looked_since(moment: float) -> bool:
        """Each of the two nodes finished a look at its configuration that began after ``moment``."""
        seen = list(looks.values())
        return len(seen) == 2 and all(any(began > moment for began in list(began_at)) for began_at in seen)

    monkeypatch.setattr(changes, "EVERY", 60.0)  # no read for time's sake during the test: only for writes
    addresses = [lab.address, next_address()]
    stop = threading.Event()
    logs: list[str] = []
    kwargs = {"endpoint": emulator_url, "region": "us-east-1", "load_balancer": lab.arn}
    nodes = [
        threading.Thread(target=alb.program, args=(stop, logs.append), kwargs={**kwargs, "bind": a}) for a in addresses
    ]
    for node in nodes:
        node.start()
    try:
        for address in addresses:
            reply = wait_until(
                lambda address=address: curl(f"http://{address}:{port}/", timeout=2),
                until=lambda reply: reply.status == 200,
                within=20,
                what=f"the node on {address} answering",
            )
            assert reply.status == 200 and reply.json()["backend"] == "shared"
        # The first health checks write the target's state (healthy after one pass): reads follow them. Then the
        # nodes look each second (REFRESH); bounds are loose: the worker may wait for the CPU.
        lab.wait_health(group, {"healthy"}, within=LOADED)
        count, _ = wait_until(
            lambda: (len(reads), reads[-1]),
            until=lambda seen: both_looked_since(seen[1]) and len(reads) == seen[0],
            within=alb.REFRESH + LOADED,
            what="each node looking again after the last read",
        )
        assert count == len(reads), reads  # then nothing is written: they look each second, and do not read
        aws.client("elbv2").add_tags(ResourceArns=[lab.arn], Tags=[{"Key": "changed", "Value": "now"}])
        wait_until(
            lambda: len(reads),
            until=lambda now: now > count,
            within=alb.REFRESH + LOADED,
            what="a write to the emulator sends the nodes reading at their next look",
            every=0.05,
        )
        wait_until(  # the other node too has looked since that read: it would have read again, were it not shared
            lambda: both_looked_since(reads[count]),
            within=alb.REFRESH + LOADED,
            what="each node looking after the read",
        )
        assert len(reads) - count == 1, reads  # one read for the two nodes
    finally:
        stop.set()
        for node in nodes:
            node.join(10)
    assert not any(node.is_alive() for node in nodes)
    assert sum("listening on" in line for line in logs) == 2


def test_main_runs_the_node_and_exits_cleanly_on_sigterm(lab, backends, emulator_url):
    """python -m helpers.lab.alb.node ... serves the listeners; SIGTERM ends it with status 0."""
    backend = backends("proc")
    port = lab.forward(lab.group(backend))
    command = [sys.executable, "-m", "helpers.lab.alb.node", "--endpoint", emulator_url, "--region", "us-east-1"]
    command += ["--load-balancer", lab.arn, "--bind", lab.address]
    proc = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        reply = wait_until(
            lambda: curl(url(lab, port), timeout=2),
            until=lambda reply: reply.status,
            within=20,
            what="the node process answering",
        )
        assert reply.status == 200 and reply.json()["backend"] == "proc"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert f"listening on {lab.address} port {port} (HTTP)" in proc.stderr.read()


def test_client_prints_like_curl_i_and_speaks_json(lab, backends, emulator_url):
    """The lab's client: curl -i's text, and --json for the lab's CLI (the same reply, decoded)."""
    backend = backends("cli")
    port = lab.forward(lab.group(backend))
    lab.start(emulator_url)
    reply = curl(f"http://site.example:{port}/p", resolve=[f"site.example:{port}:{lab.address}"])
    text = repr(reply)
    assert text.startswith("HTTP/1.1 200 X\n") and "\nContent-Type: application/json\n" in text
    assert text.split("\n\n", 1)[1] == reply.text and '"backend": "cli"' in reply.text
    out = subprocess.run(
        [sys.executable, "-m", "helpers.lab.client", f"http://site.example:{port}/p", "--resolve"]
        + [f"site.example:{port}:{lab.address}", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    again = Reply.from_dict(json.loads(out.stdout))
    assert (again.status, again.json()["path"], again.json()["headers"]["Host"]) == (200, "/p", f"site.example:{port}")
    refused = curl(f"http://{lab.address}:{free_port(lab.address)}/")
    assert refused.status == 0 and "Connection refused" in refused.error


# --------------------------------------------------------------------------- 504: no connection within 10 s


def _need_namespaces() -> None:
    """Namespaces need root and iproute2/nftables: skip without them, except in CI, where they must be there."""
    missing = [tool for tool in ("ip", "nft") if not shutil.which(tool)]
    if os.geteuid() == 0 and not missing:
        return
    message = (
        f"this test makes a network namespace, which needs root and {', '.join(missing) or 'ip, nft'}: "
        "run the tests as root (sudo make test, or in a container)"
    )
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def dropping_namespace():
    """A namespace of this test's own (lab-<ws>-t504), loopback up, where tcp port 9 is dropped by nftables."""
    _need_namespaces()
    ws = hashlib.sha1(f"tests/lab/test_alb.py:{os.getpid()}".encode()).hexdigest()[:6]
    name = f"lab-{ws}-t504"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        rules = "table inet lab_test {\n chain out {\n  type filter hook output priority 0; policy accept;\n  tcp dport 9 drop\n }\n}\n"
        subprocess.run(["ip", "netns", "exec", name, "nft", "-f", "-"], input=rules, text=True, check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
    assert name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_no_connection_within_10_seconds_is_504(lab, emulator_url, dropping_namespace):
    """The target's SYN is dropped (as a security group drops it): 504 after AWS's 10-second connect timeout.

    The real 10 s, not a shortened one. The node runs in its own namespace (Netns: its sockets there,
    the process still reaching the emulator); the client runs inside it with ip netns exec.
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-504-issues
    """
    group = lab.group()
    lab.elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "127.0.0.1", "Port": 9}])
    port = lab.forward(group)
    lab.netns = Netns(dropping_namespace)
    try:
        lab.start(emulator_url)
        out = subprocess.run(
            ["ip", "netns", "exec", dropping_namespace, sys.executable, "-m", "helpers.lab.client"]
            + [url(lab, port), "--json", "--timeout", "30"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        reply = Reply.from_dict(json.loads(out.stdout))
        assert reply.status == 504 and b"<h1>504 Gateway Time-out</h1>" in reply.body
        # The ALB's 10 s connect timeout answered (the 504), with a loaded machine's margin, below the client's 30 s
        assert 9.8 <= reply.elapsed < 10 + LOADED, reply.elapsed
        # In the host's namespace nothing listens there: the node's sockets are in its own.
        assert curl(url(lab, port), timeout=2).status == 0
    finally:
        lab.close_balancer()
        lab.netns.close()


def test_host_header_rules_match_case_insensitively_with_wildcards(lab, backends, emulator_url):
    """host-header conditions: case-insensitive, * and ? wildcards, the port not part of the host.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html#host-conditions
    """
    api = backends("api")
    listener, port = lab.listener(
        [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}}]
    )
    lab.elbv2.create_rule(
        ListenerArn=listener,
        Priority=1,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["api.*.example"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": lab.group(api)}],
    )
    lab.start(emulator_url)

    def status_for(host: str) -> int:
        return curl(f"http://{host}:{port}/", resolve=f"{host}:{port}:{lab.address}").status

    assert status_for("API.eu.Example") == 200
    assert status_for("www.eu.example") == 404


def test_redirect_defaults_keep_every_part_of_the_request():
    """A redirect that sets nothing but the protocol keeps host, port, path and query (#{...} defaults).

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html#redirect-actions
    """
    parts = {"protocol": "http", "host": "h.example", "port": 8080, "path": "/a/b", "query": "x=1&y=2"}
    assert router.redirect_location(alb_config.Redirect(), **parts) == "http://h.example:8080/a/b?x=1&y=2"
    assert router.redirect_location(alb_config.Redirect(protocol="HTTPS", port="443"), **parts) == (
        "https://h.example:443/a/b?x=1&y=2"
    )
    assert router.redirect_location(alb_config.Redirect(path="/", query=""), **parts) == "http://h.example:8080/"


def test_https_target_group_checks_and_forwards_over_tls(lab, backends, emulator_url):
    """HTTPS targets: health checks and requests over TLS, the target's certificate not validated.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
    (HealthCheckProtocol HTTPS)
    """
    backend = backends("secure", "tls")
    group = lab.group(backend, protocol="HTTPS")
    port = lab.forward(group)
    lab.start(emulator_url)
    lab.wait_health(group, {"healthy"}, within=LOADED)
    reply = curl(url(lab, port))
    assert reply.status == 200 and reply.json()["backend"] == "secure"


def test_node_process_with_netns_serves_inside_the_namespace(lab, emulator_url, dropping_namespace):
    """How the lab starts a node: from the host (it reaches the emulator), its sockets in the node's namespace.

    A backend and the client run inside the namespace (ip netns exec); the node's health checks of the
    backend (a path it answers 404) are written back to the emulator from outside it, and the only,
    unhealthy, target still answers (fail open).
    """
    backend_port = 18080
    server = subprocess.Popen(
        ["ip", "netns", "exec", dropping_namespace, sys.executable, "-m", "http.server", str(backend_port)]
        + ["--bind", "127.0.0.5"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    group = lab.group(path="/missing", interval=5, unhealthy=2)
    lab.elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "127.0.0.5", "Port": backend_port}])
    port = lab.forward(group)
    command = [sys.executable, "-m", "helpers.lab.alb.node", "--endpoint", emulator_url, "--region", "us-east-1"]
    command += ["--load-balancer", lab.arn, "--bind", "127.0.0.4", "--netns", dropping_namespace]
    node = subprocess.Popen(command, cwd=REPO, stderr=subprocess.DEVNULL)
    try:
        # unhealthy after interval x threshold (5 s x 2, target-group-health-checks.html), once the node process
        # runs: its start (a Python process importing the lab) is not a documented timing, so it gets a wide margin
        rows = lab.wait_health(group, {"unhealthy"}, within=5 * 2 + NODE_START)
        assert rows[("127.0.0.5", backend_port)]["Reason"] == "Target.ResponseCodeMismatch"
        out = subprocess.run(
            ["ip", "netns", "exec", dropping_namespace, sys.executable, "-m", "helpers.lab.client"]
            + [f"http://127.0.0.4:{port}/", "--json"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert Reply.from_dict(json.loads(out.stdout)).status == 200  # http.server's directory listing
        node.send_signal(signal.SIGTERM)
        assert node.wait(10) == 0
    finally:
        for proc in (node, server):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_binding_an_address_the_node_does_not_have_is_one_clear_message(lab, emulator_url):
    """--bind names the node's own addresses: another one (no packet is sent) fails with what to do."""
    lab.forward(lab.group())
    lab.address = "192.0.2.1"  # TEST-NET-1: on no interface here; bind fails before any traffic
    with pytest.raises(CourseError, match="cannot listen on 192.0.2.1"):
        lab.start(emulator_url)
