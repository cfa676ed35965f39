"""A forward action: one request to one target of a target group, over HTTP/1.1, and the ALB's errors.

As AWS documents it:

- healthy targets in turn (round robin); if every registered target is unhealthy, all of them
  ("fails open", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html);
  weighted target groups by their weights;
- ``X-Forwarded-For`` (the client's address appended), ``-Proto`` and ``-Port``
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html);
  with ``routing.http.drop_invalid_header_fields.enabled`` header names outside ``[-A-Za-z0-9]+``
  are dropped, without it they pass
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#load-balancer-attributes);
- HTTP/1.1 to the targets, the target group's default protocol version
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#target-group-protocol-version);
- errors (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html):
  503 when the target group has no registered targets; 464 when the request's protocol does not
  fit the group's protocol version; 502 when the target refuses or resets the connection, or its
  response is malformed; 504 when no connection is made within 10 seconds, or the target does not
  answer within the idle timeout (``idle_timeout.timeout_seconds``, 60 s by default).
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import ssl
import time

from ..net.netns import Netns
from . import health
from .config import Action, Listener, LoadBalancer, TargetGroup
from .http import HOP_BY_HOP, Answer, Malformed, Request, exchange, exchange_on
from .router import scheme

VALID_HEADER_NAME = re.compile(r"[-A-Za-z0-9]+")
ADDED = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Amzn-Trace-Id")  # the ALB's own
# What the target does not get as the client sent it: hop-by-hop, the ALB's own (replaced), the framing.
NOT_FORWARDED = {k.lower() for k in ADDED} | HOP_BY_HOP | {"content-length", "host", "expect"}


def protocol_mismatch(request: Request, group: TargetGroup) -> bool:
    """HTTP 464's causes: HTTP/1.x to an HTTP2 or GRPC group, gRPC to an HTTP1 group, a non-POST to GRPC."""
    grpc = (request.header("Content-Type") or "").startswith("application/grpc")
    if request.version.startswith("HTTP/1"):
        return group.protocol_version in ("HTTP2", "GRPC") or grpc
    return (grpc and group.protocol_version == "HTTP1") or (
        group.protocol_version == "GRPC" and request.method != "POST"
    )


def forwarded_headers(request: Request, listener: Listener, client: str, *, drop_invalid: bool):
    """The request's headers as the target gets them: hop-by-hop and the ALB's own replaced."""
    headers = [(k, v) for k, v in request.headers if k.lower() not in NOT_FORWARDED]
    if drop_invalid:
        headers = [(k, v) for k, v in headers if VALID_HEADER_NAME.fullmatch(k)]
    return headers + [
        ("X-Forwarded-For", ", ".join(filter(None, [request.header("X-Forwarded-For"), client]))),
        ("X-Forwarded-Proto", scheme(listener)),
        ("X-Forwarded-Port", str(listener.port)),
        ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"),
    ]


class Forwarder:
    """Forward actions of one node: its round-robin turns, its health monitor, its namespace's sockets."""

    def __init__(self, net: Netns, monitor: health.Monitor):
        self.net, self.monitor = net, monitor
        self.turn: dict[str, int] = {}  # round robin position per target group

    @staticmethod
    def group_of(action: Action) -> str:
        groups = action.target_groups
        if len(groups) == 1:
            return groups[0][0]
        return random.choices([g for g, _ in groups], weights=[max(w, 0) for _, w in groups])[0]

    async def forward(
        self, request: Request, action: Action, listener: Listener, config: LoadBalancer, client: str
    ) -> Answer:
        group_arn = self.group_of(action)
        group = config.target_groups.get(group_arn)
        registered = [t for t in (group.targets if group else ()) if not t.draining]
        if not registered:
            return Answer.error(503)  # no registered targets
        if protocol_mismatch(request, group):
            return Answer.error(464)
        healthy = [t for t in registered if self.monitor.routable(group_arn, t.id, t.port)]
        pool = healthy or registered  # fail open: every target unhealthy → route to all of them
        turn = self.turn.get(group_arn, 0)
        self.turn[group_arn] = turn + 1
        target = pool[turn % len(pool)]
        https = group.protocol == "HTTPS"
        try:
            async with asyncio.timeout(config.connect_timeout):  # per request: no task, as wait_for makes
                if https:
                    reader, writer = await self.net.connect(target.address, target.port, tls=health.client_tls())
                else:
                    sock = await self.net.connected(target.address, target.port)
        except TimeoutError:
            return Answer.error(504)  # no connection within the connect timeout (10 s)
        except (OSError, ssl.SSLError):
            return Answer.error(502)  # refused, reset, unreachable
        headers = [("Host", request.header("Host") or f"{target.address}:{target.port}")]
        headers += forwarded_headers(request, listener, client, drop_invalid=config.drop_invalid_header_fields)
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(request.body))))
        headers.append(("Connection", "close"))
        message = (request.method, request.target, headers, request.body)
        try:
            async with asyncio.timeout(config.idle_timeout):
                response = await (exchange(reader, writer, *message) if https else exchange_on(sock, *message))
        except TimeoutError:
            return Answer.error(504)  # no response within the idle timeout
        except (Malformed, OSError, ssl.SSLError):
            return Answer.error(502)  # reset, closed early, or not HTTP
        finally:
            (writer if https else sock).close()
        return Answer(response.status, response.headers, response.body, response.reason)
