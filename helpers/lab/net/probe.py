"""A real connection between two points of the lab: reachable, refused or blocked.

    probe(model, "internet", "i-0abc…", 32768)      → "blocked"   (dropped: the connection timed out)
    probe(model, "alb-…-us-east-1a", "i-0abc…", 32768) → "reachable"
    predict(model, "internet", "i-0abc…", 32768)    → what the reachability audit says probe will answer

A temporary listener is opened on the destination's port (unless something listens there
already), then the source connects from its own namespace. A security group drops what it
does not allow, so the sender hears nothing: "blocked" means the attempt timed out (or there is
no route at all), "refused" means a host answered with a reset (nothing listens, e.g.
``listen=False``). https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from ...errors import CourseError
from ...verify.audit.analysis import Peer, evaluate
from ..model import CLIENT_ADDRESS, Host, Model
from . import kernel
from .netns import Netns

INTERNET = "internet"
VERDICTS = ("reachable", "refused", "blocked")
DEFAULT_TIMEOUT = 0.5  # seconds: a drop is only ever certain by timing out; an allowed connection inside the
# lab (veth and bridges, all in one kernel) is answered within a millisecond, even on a busy machine


def _endpoint(model: Model, name: str) -> Host | None:
    return None if name == INTERNET else model.host(name)


def address(model: Model, src: str, dst: str) -> str | None:
    """The address ``src`` would use for ``dst``: private inside one VPC, public across the internet."""
    source, target = _endpoint(model, src), _endpoint(model, dst)
    if target is None:
        return CLIENT_ADDRESS
    if source is not None and source.vpc_id == target.vpc_id:
        return target.private_ip
    return target.public_ip  # None: not on the internet


def namespace(ws: str, model: Model, name: str) -> str:
    host = _endpoint(model, name)
    return kernel.internet_ns(ws) if host is None else kernel.host_ns(ws, host)


def probe(
    model: Model,
    src: str,
    dst: str,
    port: int,
    proto: str = "tcp",
    *,
    ws: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    listen: bool = True,
) -> str:
    """ "reachable", "refused" or "blocked", measured with a real connection from ``src`` to ``dst``:``port``."""
    if proto not in ("tcp", "udp"):
        raise CourseError(
            f"probe cannot test protocol {proto!r}.",
            "It opens a real connection, which needs a port: tcp or udp.",
            "probe FROM TO PORT with proto tcp (the default) or udp.",
        )
    if not 1 <= int(port) <= 65535:
        raise CourseError(f"Port {port} is not a port.", "Ports go from 1 to 65535.", "probe FROM TO 80")
    ws = ws or kernel.tag()
    target = address(model, src, dst)
    if target is None:
        return "blocked"  # no address to reach it by: the destination has no public address
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    listener = (
        _listener(namespace(ws, model, dst), target if dst == INTERNET else "0.0.0.0", port, kind) if listen else None
    )
    try:
        return _connect(namespace(ws, model, src), target, int(port), kind, timeout, listener)
    finally:
        if listener is not None:
            listener.close()


def _listener(ns: str, bind: str, port: int, kind: int) -> socket.socket | None:
    """A listening socket in ``ns``; None when something listens there already (then that answers)."""
    sock = Netns(ns).socket(socket.AF_INET, kind)
    try:
        sock.bind((bind, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            return None
        raise
    if kind == socket.SOCK_STREAM:
        sock.listen(16)
    return sock


def _connect(ns: str, target: str, port: int, kind: int, timeout: float, listener) -> str:
    sock = Netns(ns).socket(socket.AF_INET, kind)
    sock.settimeout(timeout)
    try:
        sock.connect((target, port))
        if kind == socket.SOCK_STREAM:
            return "reachable"
        sock.send(b"lab probe")
        if listener is not None:
            listener.settimeout(timeout)
            listener.recv(64)
            return "reachable"
        sock.recv(64)  # something listens already: its answer, or an ICMP port unreachable
        return "reachable"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "blocked"
    except OSError as error:
        if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EPERM):
            return "blocked"  # no route, or dropped on the way out (egress)
        raise
    finally:
        sock.close()


AUDIT_SCOPES = {"group", "private range", "public range", "anyone"}  # a /32 peer is never "partial"


def predict(model: Model, src: str, dst: str, port: int) -> str:
    """What the reachability audit's evaluation (helpers/verify/audit/analysis.py) says ``probe`` will answer:
    "reachable" when the destination's groups let ``src`` in and, from a lab host, the source's let it out;
    else "blocked". (It cannot tell "refused": whether something listens is not in the rules.)"""
    target = model.host(dst)
    if src == INTERNET:
        if not target.public_ip:
            return "blocked"
        peer = Peer(INTERNET, networks=(ipaddress.ip_network(f"{CLIENT_ADDRESS}/32"),))
        allowed = evaluate([g.as_boto() for g in model.host_groups(target)], peer).ports(AUDIT_SCOPES)
        return "reachable" if port in allowed else "blocked"
    source = model.host(src)

    def as_peer(host: Host) -> Peer:
        return Peer(host.id, frozenset(host.group_ids), (ipaddress.ip_network(f"{host.private_ip}/32"),))

    inbound = evaluate([g.as_boto() for g in model.host_groups(target)], as_peer(source)).ports(AUDIT_SCOPES)
    outbound = evaluate([g.as_boto() for g in model.host_groups(source)], as_peer(target), egress=True).ports(
        AUDIT_SCOPES
    )
    return "reachable" if port in inbound and port in outbound else "blocked"
