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

What it does, by module:

- HTTP listeners and HTTPS listeners; HTTPS ends TLS with the listener's certificate, at the security
  policy's TLS versions and ciphers, as DescribeSSLPolicies describes them; without the post-quantum
  key exchange of ``PQ`` policies, which this machine's OpenSSL 3.0 lacks (helpers/lab/alb/tls.py,
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html);
- each client connection's HTTP/1.1 on h11 and the ALB's 400/501 for what h11 or AWS's header limits
  refuse (helpers/lab/alb/http.py), or HTTP/2 on h2 when an HTTPS client chose h2 with ALPN
  (helpers/lab/alb/http2.py); 405, 463, the listener's rules, redirects and fixed responses
  (helpers/lab/alb/router.py); forwarding with X-Forwarded-*, 464, 502, 503, 504 (helpers/lab/alb/proxy.py).

Why not HAProxy or Caddy: a ready proxy would need a generated configuration per change and a
reload every second, cannot run the exact AWS health-check state machine with its reason codes or
write them back to the emulator, and neither fails open when every target is unhealthy (HAProxy
answers 503 "no server available"; Caddy's active checks remove unhealthy upstreams). So this is
asyncio and ssl from the stdlib, with h11 for HTTP/1.1 and h2 for HTTP/2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import sys
import threading
import time

from ...errors import CourseError
from ...runtime import aws
from .. import changes
from ..net.netns import Netns
from . import config as alb_config
from . import health, router
from . import tls as tls_policy
from .config import Listener, LoadBalancer
from .http import Answer, ClientConnection, Malformed
from .http2 import ALPN, Http2Connection
from .proxy import Forwarder

REFRESH = 1.0  # seconds between two looks at the configuration (helpers/lab/changes.py: read when written to)
# What alb_config.read reads: the load balancer, its listeners, rules and target groups with their registered
# targets, the targets' instances, the listeners' certificates. An Auto Scaling group with target groups registers
# and deregisters its instances itself. Not the lab's health results: each node routes by its own checks.
CONFIG_SERVICES = ("elasticloadbalancing", "ec2", "acm", "autoscaling")
TICK = 0.2  # seconds between two looks at due health checks

# --------------------------------------------------------------------------- TLS


def server_tls(listener: Listener) -> ssl.SSLContext:
    """The TLS context of an HTTPS listener: its certificate, its security policy's versions and ciphers, ALPN."""
    if listener.certificate is None:
        raise CourseError(
            f"The HTTPS listener on port {listener.port} has no certificate.",
            "An HTTPS listener ends TLS with the certificate it names, and this one names none.",
            "give the listener a certificate_arn (the course's aws_acm_certificate).",
        )
    policy = listener.policy or tls_policy.describe(None)
    ctx = tls_policy.server_context(policy, listener.certificate.cert_path, listener.certificate.key_path)
    ctx.set_alpn_protocols(ALPN)  # HTTP/2 first, as an ALB's HTTPS listener offers it
    return ctx


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
        self.forwarder = Forwarder(self.net, self.monitor)
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
        """A client's requests in turn, each answered, until either side closes or the idle timeout."""
        client = (writer.get_extra_info("peername") or ("", 0))[0]
        tls = writer.get_extra_info("ssl_object")
        if tls is not None and tls.selected_alpn_protocol() == "h2":
            try:
                await Http2Connection(reader, writer, lambda r: self._respond(r, port, client)).run(
                    self.config.idle_timeout
                )
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                writer.close()
            return
        conn = ClientConnection(reader, writer)
        try:
            while True:
                config = self.config
                try:
                    async with asyncio.timeout(config.idle_timeout):  # no task per request, as wait_for makes
                        request = await conn.next_request()
                except (TimeoutError, ConnectionError, ssl.SSLError):
                    return  # idle, or the client went away
                except Malformed as exc:
                    await conn.send(Answer.error(exc.status), keep_alive=False)
                    return
                if request is None:
                    return
                answer = await self._respond(request, port, client)
                if not await conn.send(answer, keep_alive=request.keep_alive):
                    return
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _respond(self, request, port: int, client: str) -> Answer:
        """The answer to one request on the listener of ``port``, by the configuration of the moment."""
        config = self.config
        listener = next((x for x in config.listeners if x.port == port), None)
        return await self._answer(request, listener, config, client) if listener else Answer.error(503)

    async def _answer(self, request, listener: Listener, config: LoadBalancer, client: str) -> Answer:
        refused = router.refused(request)
        if refused is not None:
            return refused
        action = router.action_for(listener, request)
        answer = router.respond(action, listener, request)
        if answer is not None:
            return answer
        return await self.forwarder.forward(request, action, listener, config, client)


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
