"""The load balancer's own answers to what real clients and attackers send, as AWS documents them.

Each test sends what a client or an attacker sends (raw bytes from a socket, the real curl, the real
openssl s_client) to the lab's ALB node on a loopback address of its own, in front of a real HTTP/1.1
server (the stdlib's http.server) that echoes what reached it, and checks the ALB's status code:

- https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html
  (400, 405, 413, 463, 464, 501: "The load balancer generates an HTTP error");
- https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html#http-headers-quotas
  (request line 16K, single header 16K, entire request header 64K);
- https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#load-balancer-attributes
  (routing.http.drop_invalid_header_fields.enabled).

These run on loopback like tests/lab/test_alb.py (the node is the same code that the lab's supervisor runs
inside the namespaces; tests/lab/test_exec.py reaches it there with curl and openssl through the lab's DNS).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support import alb_support
from tests.support.alb_support import DOMAIN, Lab, next_address
from tests.support.waiting import wait_until

lab = alb_support.lab  # the fixtures: a load balancer in the emulator, the course's pair in ACM
imported_certificate = alb_support.imported_certificate

CHECKS = 10.0  # seconds for a target's first health check (sent at registration) to pass, on a busy machine
REFRESH_WITHIN = 10.0  # seconds for a node to take up an attribute change (it looks every second)

pytestmark = pytest.mark.skipif(not shutil.which("curl"), reason="needs the curl command-line client")


class Echo:
    """A real HTTP/1.1 server on loopback (http.server): answers /echo... with the body it received, every
    other request 200 with a JSON echo of what it received (method, path, headers, body length and SHA-256); ``seen`` lists all but the ALB's health checks."""

    def __init__(self):
        self.address = next_address()
        self.seen: list[dict] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                echo = {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "length": len(body),
                    "sha256": hashlib.sha256(body).hexdigest(),
                }
                if self.headers.get("User-Agent") != "ELB-HealthChecker/2.0":
                    seen.append(echo)
                out = body if self.path.startswith("/echo") else json.dumps(echo).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self.address, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def echo():
    made = Echo()
    yield made
    made.close()


def started(lab: Lab, echo: Echo, emulator_url: str, *, attributes: dict | None = None) -> int:
    """An HTTP listener forwarding to ``echo``, the node running, the target healthy; the listener's port."""
    group = lab.group(echo, interval=5)
    port = lab.forward(group)
    if attributes:
        lab.elbv2.modify_load_balancer_attributes(
            LoadBalancerArn=lab.arn, Attributes=[{"Key": k, "Value": v} for k, v in attributes.items()]
        )
    lab.start(emulator_url)
    lab.wait_health(group, {"healthy"}, within=CHECKS)
    return port


def raw(lab: Lab, port: int, data: bytes) -> bytes:
    """``data`` written on a TCP connection to the listener as it is, then everything the ALB sends back."""
    with socket.create_connection((lab.address, port), timeout=15) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def curl(*args: str) -> tuple[int, str]:
    """The real curl; its status code and body."""
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=60
    )
    body, _, code = done.stdout.rpartition("\n")
    assert code.isdigit() and code != "000", done.stderr
    return int(code), body


SMUGGLING = {
    "CL.TE": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
    "TE.CL": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
    "duplicate Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nGET /",
    "space in a header name": b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
    "no Host in HTTP/1.1": b"GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n",
    "not HTTP": b"HELLO\r\n\r\n",
}


def test_smuggling_attempts_and_malformed_requests_get_400_and_reach_no_target(lab, echo, emulator_url):
    """Content-Length with Transfer-Encoding either way round, two different Content-Lengths, a header line
    that is not one, HTTP/1.1 without Host: 400 Bad Request from the ALB itself ("The client sent a malformed
    request that does not meet the HTTP specification"), the connection closed, nothing forwarded.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-400-issues
    The lab refuses the ambiguous ones (CL with TE) as the ``strictest`` desync mitigation mode does; AWS's
    default ``defensive`` mode forwards an ambiguous request and closes both connections (README's "What differs
    from AWS"; https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#desync-mitigation-mode).
    """
    port = started(lab, echo, emulator_url)
    for name, attempt in SMUGGLING.items():
        answer = raw(lab, port, attempt)
        assert status_of(answer) == 400, (name, answer[:200])
        assert b"Server: awselb/2.0" in answer and b"Connection: close" in answer, name
    assert echo.seen == [], "no part of an attempt reached the target"
    assert raw(lab, port, b"GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")


def test_unsupported_transfer_encoding_is_501(lab, echo, emulator_url):
    """Transfer-Encoding other than chunked: 501 Not Implemented ("The supported values for Transfer-Encoding
    are chunked and identity"; h11, like RFC 9112, has no identity coding, so the lab answers 501 to it too).

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-501-issues
    """
    port = started(lab, echo, emulator_url)
    answer = raw(lab, port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nxyz")
    assert status_of(answer) == 501 and echo.seen == []


def test_oversized_headers_are_400_as_aws_documents_not_431(lab, echo, emulator_url):
    """AWS answers 400 (not 431) when "the request header exceeded 16K per request line, 16K per single header,
    or 64K for the entire header"; a 15K header, within the limits, is forwarded.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-400-issues
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html#http-headers-quotas
    """
    port = started(lab, echo, emulator_url)
    base = f"http://{lab.address}:{port}"
    assert curl("-H", "X-Big: " + "a" * 17_000, f"{base}/one")[0] == 400
    five = [arg for n in range(5) for arg in ("-H", f"X-Part-{n}: " + "b" * 15_000)]  # 75K in all
    assert curl(*five, f"{base}/all")[0] == 400
    assert curl(f"{base}/" + "c" * 17_000)[0] == 400  # the request line
    code, body = curl("-H", "X-Fits: " + "d" * 15_000, f"{base}/fits")
    assert code == 200 and len(json.loads(body)["headers"]["X-Fits"]) == 15_000
    assert [e["path"] for e in echo.seen] == ["/fits"]


def test_trace_is_405_and_more_than_30_forwarded_addresses_is_463(lab, echo, emulator_url):
    """TRACE: 405 ("not supported by Application Load Balancers"); an X-Forwarded-For of more than 30 addresses:
    463; 30 are forwarded, the client's own appended.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-405-issues
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-463-issues
    """
    port = started(lab, echo, emulator_url)
    base = f"http://{lab.address}:{port}"
    assert curl("-X", "TRACE", f"{base}/")[0] == 405
    addresses = [f"198.51.100.{n}" for n in range(1, 32)]
    assert curl("-H", "X-Forwarded-For: " + ", ".join(addresses), f"{base}/")[0] == 463
    code, body = curl("-H", "X-Forwarded-For: " + ", ".join(addresses[:30]), f"{base}/")
    assert code == 200 and len(json.loads(body)["headers"]["X-Forwarded-For"].split(", ")) == 31
    assert len(echo.seen) == 1


def test_http1_request_to_an_http2_target_group_is_464(lab, echo, emulator_url):
    """A target group whose protocol version is HTTP2: an HTTP/1.1 request gets 464 ("The load balancer received
    an incoming request protocol that is incompatible with the version config of the target group protocol").

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-464-issues
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#target-group-protocol-version
    """
    group = lab.elbv2.create_target_group(
        Name=f"{lab.name}-h2", Protocol="HTTP", ProtocolVersion="HTTP2", Port=80, VpcId=lab.vpc, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    lab.groups.append(group)
    lab.elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": echo.address, "Port": echo.port}])
    port = lab.forward(group)
    lab.start(emulator_url)
    assert curl("--http1.1", f"http://{lab.address}:{port}/")[0] == 464
    assert echo.seen == []


def test_bodies_pass_whole_chunked_or_large_with_no_413(lab, echo, emulator_url):
    """A chunked 270 KB POST and a 2 MB PUT reach the target whole: AWS's 413 is for Lambda targets only
    ("The target is a Lambda function and the request body exceeds 1 MB"); the lab has no Lambda targets.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-413-issues
    """
    port = started(lab, echo, emulator_url)
    base = f"http://{lab.address}:{port}"
    small, large = bytes(range(256)) * 1080, b"z" * 2_000_000
    chunked = ["-H", "Transfer-Encoding: chunked", "-H", "Content-Type: application/octet-stream"]
    for name, data, extra in (("chunked", small, chunked), ("large", large, ["-X", "PUT"])):
        done = subprocess.run(
            ["curl", "-sS", "--max-time", "30", *extra, "--data-binary", "@-", f"{base}/{name}"],
            input=data,
            capture_output=True,
            timeout=60,
        )
        seen = json.loads(done.stdout)
        assert (seen["length"], seen["sha256"]) == (len(data), hashlib.sha256(data).hexdigest()), done.stderr


def test_pipelined_requests_are_answered_in_order(lab, echo, emulator_url):
    """Three requests written at once on one connection: three answers, in order (HTTP/1.1 pipelining)."""
    port = started(lab, echo, emulator_url)
    requests = b"".join(f"GET /{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for n in range(3))
    answer = raw(lab, port, requests)
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert [e["path"] for e in echo.seen] == ["/0", "/1", "/2"]


def test_invalid_header_names_pass_unless_drop_invalid_header_fields_is_enabled(lab, echo, emulator_url):
    """routing.http.drop_invalid_header_fields.enabled: false (AWS's default) routes a header whose name is not
    [-A-Za-z0-9]+ to the target; true drops it (terraform/alb.tf sets true).

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#load-balancer-attributes
    """
    key = "routing.http.drop_invalid_header_fields.enabled"
    port = started(lab, echo, emulator_url, attributes={key: "false"})
    url = f"http://{lab.address}:{port}/"
    headers = ["-H", "X_Under.Score: 1", "-H", "X-Fine: 2"]
    seen = json.loads(curl(*headers, url)[1])["headers"]
    assert seen["X_Under.Score"] == "1" and seen["X-Fine"] == "2"
    lab.elbv2.modify_load_balancer_attributes(LoadBalancerArn=lab.arn, Attributes=[{"Key": key, "Value": "true"}])
    seen = wait_until(
        lambda: json.loads(curl(*headers, url)[1])["headers"],
        until=lambda h: "X_Under.Score" not in h,
        within=REFRESH_WITHIN,
        what="the invalid header name dropped",
        every=0.2,
    )
    assert seen["X-Fine"] == "2"


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command-line client")
def test_smuggling_over_https_with_openssl_s_client_gets_400(lab, echo, emulator_url, imported_certificate):
    """The same CL.TE attempt typed into openssl s_client on an HTTPS listener: 400 inside TLS.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-400-issues
    """
    group = lab.group(echo, interval=5)
    forward = [{"Type": "forward", "TargetGroupArn": group}]
    _, port = lab.listener(forward, "HTTPS", Certificates=[{"CertificateArn": imported_certificate}])
    lab.start(emulator_url)
    argv = ["openssl", "s_client", "-quiet", "-connect", f"{lab.address}:{port}", "-servername", DOMAIN]
    done = subprocess.run(argv, input=SMUGGLING["CL.TE"], capture_output=True, timeout=30)
    assert done.stdout.startswith(b"HTTP/1.1 400 Bad Request\r\n"), done.stdout[:200] + done.stderr[-300:]
    assert echo.seen == []


@pytest.mark.skipif(
    "HTTP2" not in subprocess.run(["curl", "-V"], capture_output=True, text=True).stdout, reason="curl without HTTP/2"
)
def test_curl_http2_on_an_https_listener_gets_http2_and_the_targets_answer(
    lab, echo, emulator_url, imported_certificate
):
    """An HTTPS listener offers h2 with ALPN: curl --http2 speaks HTTP/2 to the ALB, which forwards HTTP/1.1 (the
    target group's default protocol version); a 1 MB body goes up and comes back whole through both directions'
    flow control; curl --http1.1 still gets HTTP/1.1.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#target-group-protocol-version
    """
    group = lab.group(echo, interval=5)
    forward = [{"Type": "forward", "TargetGroupArn": group}]
    _, port = lab.listener(forward, "HTTPS", Certificates=[{"CertificateArn": imported_certificate}])
    lab.start(emulator_url)
    lab.wait_health(group, {"healthy"}, within=CHECKS)
    base = f"https://{lab.address}:{port}"
    version = ["-k", "-o", "/dev/null", "-w", "%{http_version} %{http_code}"]
    got = subprocess.run(["curl", "-sS", "--http2", *version, f"{base}/"], capture_output=True, text=True, timeout=60)
    assert got.stdout == "2 200", got.stderr
    code, body = curl("-k", "--http2", f"{base}/x?y=1")
    seen = json.loads(body)
    assert code == 200 and seen["path"] == "/x?y=1" and seen["headers"]["X-Forwarded-Proto"] == "https"
    data = bytes(range(256)) * 4096  # 1 MiB
    done = subprocess.run(
        ["curl", "-sS", "-k", "--http2", "--data-binary", "@-", f"{base}/echo"],
        input=data,
        capture_output=True,
        timeout=60,
    )
    assert hashlib.sha256(done.stdout).hexdigest() == hashlib.sha256(data).hexdigest(), done.stderr[-300:]
    old = subprocess.run(["curl", "-sS", "--http1.1", *version, f"{base}/"], capture_output=True, text=True, timeout=60)
    assert old.stdout == "1.1 200", old.stderr


def test_keep_alive_connections_answer_request_after_request(lab, echo, emulator_url, imported_certificate):
    """http.client (as the bench and many SDKs) sends its next request on the same connection once the answer
    is read, over HTTP and HTTPS: each is answered, the connection kept ("Connection: keep-alive")."""
    group = lab.group(echo, interval=5)
    forward = [{"Type": "forward", "TargetGroupArn": group}]
    _, https_port = lab.listener(forward, "HTTPS", Certificates=[{"CertificateArn": imported_certificate}])
    http_port = lab.forward(group)
    lab.start(emulator_url)
    lab.wait_health(group, {"healthy"}, within=CHECKS)
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    connections = [
        http.client.HTTPConnection(lab.address, http_port, timeout=15),
        http.client.HTTPSConnection(lab.address, https_port, timeout=15, context=insecure),
    ]
    for conn in connections:
        try:
            for n in range(3):
                conn.request("GET", f"/{n}", headers={"Host": "app"})
                reply = conn.getresponse()
                assert json.loads(reply.read())["path"] == f"/{n}" and reply.getheader("Connection") == "keep-alive"
        finally:
            conn.close()
    assert len(echo.seen) == 6
