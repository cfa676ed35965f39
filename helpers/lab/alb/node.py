"""The load balancer's data plane: one ALB node's listeners, on the node's own addresses.

    alb.program(stop, log, endpoint=URL, region=R, load_balancer=ARN, bind="ADDR[,ADDR]", netns=NAME)
    python -m helpers.lab.alb.node --endpoint URL --region R --load-balancer ARN --bind ADDR[,ADDR] [--netns NAME]

``program`` is one node, run by the lab's supervisor as a thread (helpers/lab/control/supervisor.py) until
``stop`` is set; ``python -m helpers.lab.alb.node`` runs the same in a process of its own (tests), until
SIGTERM. Looks every second whether the emulator served a write that could change the load balancer
(helpers/lab/changes.py) and then reads it (helpers/lab/alb/config.py), one read shared by the nodes
of that load balancer (``SharedConfig``), so a rule, target or attribute changed by Terraform or
boto3 takes effect within a second; serves each listener on each bound address;
checks every registered target (helpers/lab/alb/health.py) and writes the states back to the emulator.
``netns``: the thread (or process) stays where it is started, so it reaches the emulator on
loopback, and opens its listening and target sockets in the network namespace NAME (each socket
keeps the namespace it was created in).

What it does, as AWS documents it:

- HTTP listeners: a redirect action answers 301/302 with the Location built from
  ``#{protocol}://#{host}:#{port}/#{path}?#{query}``, unset parts keeping the request's
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html#redirect-actions);
  fixed-response actions answer their code, type and body.
- HTTPS listeners end TLS with the listener's certificate, at the security policy's TLS versions and
  ciphers, as DescribeSSLPolicies describes them; without the post-quantum key exchange of ``PQ``
  policies, which this machine's OpenSSL 3.0 lacks (helpers/lab/alb/tls.py,
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
- Rules in priority order, path patterns with ``*`` and ``?``, host headers; then the default action
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-update-rules.html).
- forward: healthy targets in turn (round robin); if every registered target is unhealthy, all of
  them ("fails open", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).
- Errors (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html):
  503 when the target group has no registered targets; 502 when the target refuses or resets the
  connection, or its response is malformed; 504 when no connection is made within 10 seconds, or
  the target does not answer within the idle timeout (``idle_timeout.timeout_seconds``, 60 s by default).
- ``X-Forwarded-For`` (the client's address appended), ``-Proto`` and ``-Port``
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html);
  with ``routing.http.drop_invalid_header_fields.enabled`` (the course sets it), header names
  outside ``[-A-Za-z0-9]+`` are dropped.

Why not HAProxy or Caddy: a ready proxy would need a generated configuration per change and a
reload every second, cannot run the exact AWS health-check state machine with its reason codes or
write them back to the emulator, and neither fails open when every target is unhealthy (HAProxy
answers 503 "no server available"; Caddy's active checks remove unhealthy upstreams). So this is
the stdlib (asyncio, ssl) with a careful minimal HTTP/1.1 reader (health.read_response and
read_request here); h11 is only in the environment as a dependency of another package, not pinned
by the course.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import random
import re
import secrets
import signal
import ssl
import sys
import threading
import time
from dataclasses import dataclass

from ...errors import CourseError
from ...runtime import aws
from .. import changes
from ..net.netns import Netns
from . import config as alb_config
from . import health
from . import tls as tls_policy
from .config import Action, Listener, LoadBalancer, Redirect
from .health import Malformed

REFRESH = 1.0  # seconds between two looks at the configuration (helpers/lab/changes.py: read when written to)
# What alb_config.read reads: the load balancer, its listeners, rules and target groups with their registered
# targets, the targets' instances, the listeners' certificates. An Auto Scaling group with target groups registers
# and deregisters its instances itself. Not the lab's health results: each node routes by its own checks.
CONFIG_SERVICES = ("elasticloadbalancing", "ec2", "acm", "autoscaling")
TICK = 0.2  # seconds between two looks at due health checks
SERVER = "awselb/2.0"
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}

# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#load-balancer-attributes
VALID_HEADER_NAME = re.compile(r"[-A-Za-z0-9]+")

# --------------------------------------------------------------------------- TLS


def server_tls(listener: Listener) -> ssl.SSLContext:
    """The TLS context of an HTTPS listener: its certificate, its security policy's versions and ciphers."""
    if listener.certificate is None:
        raise CourseError(
            f"The HTTPS listener on port {listener.port} has no certificate.",
            "An HTTPS listener ends TLS with the certificate it names, and this one names none.",
            "give the listener a certificate_arn (the course's aws_acm_certificate).",
        )
    policy = listener.policy or tls_policy.describe(None)
    return tls_policy.server_context(policy, listener.certificate.cert_path, listener.certificate.key_path)


# --------------------------------------------------------------------------- requests


@dataclass
class Request:
    method: str
    target: str  # as sent: /path?query
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (self.header("Connection") or "").split(",")}
        return "keep-alive" in tokens if self.version == "HTTP/1.0" else "close" not in tokens


_REQUEST = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) (HTTP/1\.[01])")


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None = None) -> Request:
    """One HTTP/1.1 request; raises Malformed, or asyncio.IncompleteReadError at the end of the connection.

    A client that sends ``Expect: 100-continue`` is told to go on (to ``writer``) before its body is read.
    """
    lines = await health.read_head(reader)
    while lines[:1] == [b""]:  # stray CRLFs before a request line are ignored (RFC 9112 2.2)
        lines = lines[1:] or await health.read_head(reader)
    m = _REQUEST.fullmatch(lines[0])
    if not m:
        raise Malformed(f"bad request line {lines[0][:60]!r}")
    headers = health.parse_headers(lines[1:])
    if writer is not None and any(k.lower() == "expect" and v.lower() == "100-continue" for k, v in headers):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        headers = [(k, v) for k, v in headers if k.lower() != "expect"]
    body = await health.read_body(reader, headers, until_close=False)
    method, target, version = (g.decode("latin-1") for g in m.groups())
    return Request(method, target, version, headers, body)


# --------------------------------------------------------------------------- answers


def page(status: int) -> bytes:
    """The ALB's own error page (what an ALB answers with its 4xx/5xx)."""
    title = f"{status} {REASONS.get(status, '')}".strip()
    return f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n".encode()


REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reason: str = ""

    @classmethod
    def error(cls, status: int) -> Answer:
        return cls(status, [("Server", SERVER), ("Content-Type", "text/html")], page(status))


def match_pattern(pattern: str, value: str, *, case: bool) -> bool:
    """AWS rule wildcards: * any characters, ? exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def redirect_location(r: Redirect, *, protocol: str, host: str, port: int, path: str, query: str) -> str:
    """#{protocol}://#{host}:#{port}/#{path}?#{query}, each part the rule's or the request's own."""

    def fill(text: str) -> str:
        return (
            text.replace("#{protocol}", protocol.lower())
            .replace("#{host}", host)
            .replace("#{port}", str(port))
            .replace("#{path}", path.lstrip("/"))
            .replace("#{query}", query)
        )

    scheme = fill(r.protocol).lower()
    location = f"{scheme}://{fill(r.host)}:{fill(r.port)}{fill(r.path)}"
    q = fill(r.query)
    return f"{location}?{q}" if q else location


# --------------------------------------------------------------------------- the node


class Balancer:
    """One ALB node: listeners on ``addresses``, forwarding as ``load()``'s configuration says.

    ``load`` is called (in a thread) every REFRESH seconds; ``publish(group_arn, {(id, port): Health})``
    (in a thread) receives the health states that changed; ``netns`` makes the sockets.
    """

    def __init__(self, load, addresses: list[str], *, publish=None, netns: Netns | None = None, log=None):
        self.load, self.addresses, self.publish = load, list(addresses), publish
        self.net = netns or Netns()
        self.log = log or (lambda text: print(f"alb: {text}", file=sys.stderr, flush=True))
        self.config: LoadBalancer | None = None
        self.servers: dict[int, tuple[tuple, list[asyncio.AbstractServer]]] = {}  # port -> (identity, servers)
        self.monitor = health.Monitor(prober=lambda a, p, c: health.probe(a, p, c, connect=self.net.connect))
        self.turn: dict[str, int] = {}  # round robin position per target group
        self.tasks: list[asyncio.Task] = []
        self.connections: set[asyncio.Task] = set()
        self._load_error = ""

    async def start(self) -> None:
        """Read the configuration once (errors raise) and open the listeners."""
        self.config = await asyncio.to_thread(self.load)
        await self._apply(self.config)
        await self._publish(self.monitor.tick())  # registered targets are "initial" before the first request
        self.tasks = [asyncio.ensure_future(self._refresh_loop()), asyncio.ensure_future(self._health_loop())]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for _, servers in self.servers.values():
            for server in servers:
                server.close()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)
        await self.monitor.close()
        self.servers = {}

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH)
            try:
                config = await asyncio.to_thread(self.load)
            except Exception as exc:  # the emulator restarting, a resource gone: keep serving the last one
                text = str(exc).splitlines()[0]
                if text != self._load_error:
                    self.log(f"keeping the last configuration: {text}")
                self._load_error = text
                continue
            try:
                await self._apply(config)
            except (CourseError, OSError) as exc:  # e.g. a policy changed to one the lab does not know
                text = str(exc).splitlines()[0]
                if text != self._load_error:
                    self.log(f"cannot apply the new configuration, keeping the last one: {text}")
                self._load_error = text
                continue
            self._load_error = ""
            self.config = config

    async def _apply(self, config: LoadBalancer) -> None:
        self.monitor.sync(config.target_groups)
        wanted = {listener.port: listener for listener in config.listeners}
        for port in [p for p in self.servers if p not in wanted]:
            for server in self.servers.pop(port)[1]:
                server.close()
        for port, listener in wanted.items():
            cert = listener.certificate
            identity = (listener.protocol, listener.policy, cert.cert_path if cert else None)
            if port in self.servers and self.servers[port][0] == identity:
                continue
            tls = server_tls(listener) if listener.protocol == "HTTPS" else None
            for server in self.servers.pop(port, ((), []))[1]:
                server.close()  # the listening socket is freed; open connections finish on their own
            servers = []
            try:
                for address in self.addresses:
                    sock = self.net.listen(address, port)
                    servers.append(
                        await asyncio.start_server(lambda r, w, p=port: self._connection(r, w, p), sock=sock, ssl=tls)
                    )
            except BaseException:
                for server in servers:
                    server.close()
                raise
            self.servers[port] = (identity, servers)
            self.log(f"listening on {', '.join(self.addresses)} port {port} ({listener.protocol})")

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            await self._publish(self.monitor.tick())

    async def _publish(self, changes: dict) -> None:
        for group, states in changes.items():
            if self.publish:
                try:
                    await asyncio.to_thread(self.publish, group, states)
                except Exception as exc:  # the emulator away: the monitor re-sends everything every 10 s
                    self.log(f"could not write target health back: {exc}")

    # ------------------------------------------------------------------ one client connection

    def _connection(self, reader, writer, port: int):
        task = asyncio.ensure_future(self._serve(reader, writer, port))
        self.connections.add(task)
        task.add_done_callback(self.connections.discard)
        return task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            while True:
                config = self.config
                try:
                    request = await asyncio.wait_for(read_request(reader, writer), config.idle_timeout)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                    return  # idle, or the client went away
                except Malformed:
                    await self._send(writer, Answer.error(400), keep_alive=False)
                    return
                listener = next((x for x in config.listeners if x.port == port), None)
                answer = await self._answer(request, listener, config, peer[0]) if listener else Answer.error(503)
                keep = request.keep_alive
                await self._send(writer, answer, keep_alive=keep, head=request.method == "HEAD")
                if not keep:
                    return
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _send(self, writer, answer: Answer, *, keep_alive: bool, head: bool = False) -> None:
        reason = answer.reason or REASONS.get(answer.status, "")
        headers = [(k, v) for k, v in answer.headers if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
        if not any(k.lower() == "date" for k, _ in headers):
            headers.insert(0, ("Date", email.utils.formatdate(usegmt=True)))
        if head:
            length = next((v for k, v in answer.headers if k.lower() == "content-length"), None)
            if length is not None:
                headers.append(("Content-Length", length))
        elif answer.status not in (204, 304) and not 100 <= answer.status < 200:
            headers.append(("Content-Length", str(len(answer.body))))
        headers.append(("Connection", "keep-alive" if keep_alive else "close"))
        head_bytes = f"HTTP/1.1 {answer.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        writer.write(head_bytes.encode("latin-1") + (b"" if head else answer.body))
        await writer.drain()

    async def _answer(self, request: Request, listener: Listener, config: LoadBalancer, client: str) -> Answer:
        host_header = request.header("Host") or ""
        host = re.sub(r":\d+$", "", host_header)
        actions = listener.default_actions
        for rule in listener.rules:
            if rule.path_patterns and not any(match_pattern(p, request.path, case=True) for p in rule.path_patterns):
                continue
            if rule.host_headers and not any(match_pattern(h, host, case=False) for h in rule.host_headers):
                continue
            actions = rule.actions
            break
        action = actions[-1] if actions else Action("fixed-response")
        protocol = "https" if listener.protocol == "HTTPS" else "http"
        if action.type == "redirect":
            location = redirect_location(
                action.redirect,
                protocol=protocol,
                host=host,
                port=listener.port,
                path=request.path,
                query=request.query,
            )
            status = 302 if action.redirect.status_code == "HTTP_302" else 301
            return Answer(
                status, [("Server", SERVER), ("Content-Type", "text/html"), ("Location", location)], page(status)
            )
        if action.type == "fixed-response" and action.fixed_response:
            f = action.fixed_response
            return Answer(f.status_code, [("Server", SERVER), ("Content-Type", f.content_type)], f.body.encode())
        if action.type == "forward" and action.target_groups:
            extra = [
                ("X-Forwarded-For", ", ".join(filter(None, [request.header("X-Forwarded-For"), client]))),
                ("X-Forwarded-Proto", protocol),
                ("X-Forwarded-Port", str(listener.port)),
                ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"),
            ]
            return await self._forward(request, self._group(action), config, extra)
        return Answer.error(500)

    def _group(self, action: Action) -> str:
        groups = action.target_groups
        if len(groups) == 1:
            return groups[0][0]
        return random.choices([g for g, _ in groups], weights=[max(w, 0) for _, w in groups])[0]

    async def _forward(self, request: Request, group_arn: str, config: LoadBalancer, extra) -> Answer:
        group = config.target_groups.get(group_arn)
        registered = [t for t in (group.targets if group else ()) if not t.draining]
        if not registered:
            return Answer.error(503)  # no registered targets
        healthy = [t for t in registered if self.monitor.routable(group_arn, t.id, t.port)]
        pool = healthy or registered  # fail open: every target unhealthy → route to all of them
        turn = self.turn.get(group_arn, 0)
        self.turn[group_arn] = turn + 1
        target = pool[turn % len(pool)]
        tls = health.client_tls() if group.protocol == "HTTPS" else None
        try:
            reader, writer = await asyncio.wait_for(
                self.net.connect(target.address, target.port, tls=tls), config.connect_timeout
            )
        except TimeoutError:
            return Answer.error(504)  # no connection within the connect timeout (10 s)
        except (OSError, ssl.SSLError):
            return Answer.error(502)  # refused, reset, unreachable
        try:
            drop = {k.lower() for k in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Amzn-Trace-Id")}
            headers = [(k, v) for k, v in request.headers if k.lower() not in HOP_BY_HOP | drop | {"content-length"}]
            if config.drop_invalid_header_fields:  # only names matching [-A-Za-z0-9]+ pass (the LB attribute)
                headers = [(k, v) for k, v in headers if VALID_HEADER_NAME.fullmatch(k)]
            headers += extra
            if request.body or request.method in ("POST", "PUT", "PATCH"):
                headers.append(("Content-Length", str(len(request.body))))
            headers.append(("Connection", "close"))
            head = f"{request.method} {request.target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
            writer.write((head + "\r\n").encode("latin-1") + request.body)
            await writer.drain()
            response = await asyncio.wait_for(health.read_response(reader, method=request.method), config.idle_timeout)
        except TimeoutError:
            return Answer.error(504)  # no response within the idle timeout
        except (Malformed, asyncio.IncompleteReadError, OSError, ssl.SSLError):
            return Answer.error(502)  # reset, closed early, or not HTTP
        finally:
            writer.close()
        return Answer(response.status, response.headers, response.body, response.reason)


# --------------------------------------------------------------------------- one configuration per load balancer


class SharedConfig:
    """One configuration read per refresh for all the nodes of one load balancer.

    Each node calls ``get()`` every REFRESH seconds; a read younger than ``max_age`` is handed out
    again (a failed read too: its error is raised to every caller until the next read), so N nodes
    of a load balancer cost the emulator one read per second, not N. ``used(key, read)`` gives the
    nodes of one key (endpoint, region, load balancer) the same instance while any of them runs.
    """

    _registry: dict = {}  # key -> [SharedConfig, users]
    _registry_lock = threading.Lock()

    def __init__(self, read, *, max_age: float = 0.9 * REFRESH, clock=time.monotonic, watch=None):
        self.read, self.max_age, self.clock, self.watch = read, max_age, clock, watch
        self.lock = threading.Lock()
        self.read_at: float | None = None
        self.value: LoadBalancer | None = None
        self.error: Exception | None = None
        self.reads = 0

    def get(self) -> LoadBalancer:
        with self.lock:  # a second node waits for the read under way instead of making its own
            began = self.clock()
            if self.read_at is None or began - self.read_at >= self.max_age:
                seen = self.watch.look() if self.watch else None
                if self.value is None or self.watch is None or self.watch.due(seen):
                    self.reads += 1
                    try:
                        self.value, self.error = self.read(), None
                        if self.watch:
                            self.watch.saw(seen)
                    except Exception as exc:  # noqa: BLE001 - handed to every node of this load balancer
                        self.value, self.error = None, exc
                self.read_at = began
            if self.error is not None:
                raise self.error
            return self.value

    @classmethod
    @contextlib.contextmanager
    def used(cls, key, read, watch=None):
        """The SharedConfig of ``key`` (made with ``read`` and ``watch`` by its first user), for the block's
        duration."""
        with cls._registry_lock:
            entry = cls._registry.setdefault(key, [cls(read, watch=watch), 0])
            entry[1] += 1
        try:
            yield entry[0]
        finally:
            with cls._registry_lock:
                entry[1] -= 1
                if entry[1] == 0:
                    cls._registry.pop(key, None)


# --------------------------------------------------------------------------- the node program


STOP_POLL = 0.1  # seconds between two looks at the stop event


def program(
    stop: threading.Event,
    log,
    *,
    endpoint: str,
    region: str,
    load_balancer: str,
    bind: str,
    netns: str | None = None,
) -> None:
    """One ALB node until ``stop`` is set: a thread of the lab's supervisor (helpers/lab/control/supervisor.py).

    The thread stays in the supervisor's network namespace (the emulator is on its loopback); the
    node's listening and target sockets are made in ``netns`` (helpers/lab/net/netns.py's Netns). ``bind``: the
    node's addresses, comma-separated; ``log(text)``: one line to the node's log.
    """
    made = {name: aws.emulator_client(name, endpoint, region) for name in ("elbv2", "ec2", "acm")}
    addresses = [a.strip() for a in bind.split(",") if a.strip()]

    def read() -> LoadBalancer:
        return alb_config.read(load_balancer, client=made.__getitem__)

    async def run(shared: SharedConfig) -> None:
        balancer = Balancer(
            shared.get,
            addresses,
            publish=lambda group, states: health.publish(endpoint, group, states, node=bind),  # its own findings
            netns=Netns(netns),
            log=log,
        )
        try:
            await balancer.start()
            while not stop.is_set():
                await asyncio.sleep(STOP_POLL)
        finally:
            await balancer.close()
            balancer.net.close()

    watch = changes.Watch(endpoint, CONFIG_SERVICES)  # read again only after a write that could matter
    with SharedConfig.used((endpoint, region, load_balancer), read, watch) as shared:
        asyncio.run(run(shared))


# --------------------------------------------------------------------------- the process (tests run it so)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.lab.alb.node", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="the emulator's URL")
    parser.add_argument("--region", required=True)
    parser.add_argument("--load-balancer", required=True, help="the load balancer's ARN")
    parser.add_argument("--bind", required=True, help="the node's addresses, comma-separated")
    parser.add_argument("--netns", help="open the sockets in this network namespace (the process stays in its own)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        program(
            stop,
            lambda text: print(f"alb: {text}", file=sys.stderr, flush=True),
            endpoint=args.endpoint,
            region=args.region,
            load_balancer=args.load_balancer,
            bind=args.bind,
            netns=args.netns,
        )
    except CourseError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
