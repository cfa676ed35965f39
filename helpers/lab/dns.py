"""The lab's DNS: answers from the emulator's Route 53 records, inside the lab only.

    dns.program(stop, log, endpoint=URL, region=R, netns="lab-<ws>-internet", bind=ADDRESS)

``program`` runs in a thread of the lab's supervisor (helpers/lab/control.py) until ``stop`` is set.

A name resolves as Route 53 would answer it: an A record to its values; an alias A record to a load
balancer to the public addresses of that load balancer's nodes (one per subnet,
https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-choosing-alias-non-alias.html),
and so does the load balancer's own DNS name. Anything else is NXDOMAIN. The server listens only in
the lab's internet namespace (its socket is made there, Netns.socket; the thread stays in the
host's namespace, where it reaches the emulator), and the namespace's resolv.conf (``/etc/netns/<ns>/resolv.conf``, which
``ip netns exec`` puts in place of /etc/resolv.conf) names it, so any program the lab runs there,
the lab's client or curl, resolves the course's domain.

The records are read again at most once a second, so a new alias is answered within a second.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

from ..errors import CourseError
from ..runtime import aws
from . import model
from .netns import Netns

PORT = 53
TTL = 60  # seconds, what an alias answer to an ALB carries on AWS
REFRESH = 1.0  # seconds between two readings of the records
A, AAAA, IN = 1, 28, 1


def _key(name: str) -> str:
    return name.rstrip(".").lower()


def records(lab: model.Model | None = None, client=None) -> dict[str, list[str]]:
    """{name: IPv4 addresses}: what Route 53 and the load balancers' nodes answer now.
    ``client(service)`` makes the boto3 clients (default: aws.client)."""
    client = client or aws.client
    lab = lab or model.read(client("ec2"), client("elbv2"))
    elbv2, route53 = client("elbv2"), client("route53")
    nodes: dict[str, list[str]] = {}
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        addresses = sorted(h.public_ip for h in lab.hosts if h.lb_arn == lb["LoadBalancerArn"] and h.public_ip)
        nodes[_key(lb["DNSName"])] = addresses
    answers = dict(nodes)
    for zone in route53.list_hosted_zones()["HostedZones"]:
        pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone["Id"])
        for record in pages.build_full_result()["ResourceRecordSets"]:
            if record["Type"] != "A":
                continue
            if record.get("AliasTarget"):
                target = _key(record["AliasTarget"]["DNSName"]).removeprefix("dualstack.")
                answers[_key(record["Name"])] = nodes.get(target, [])
            else:
                answers[_key(record["Name"])] = [r["Value"] for r in record.get("ResourceRecords", [])]
    return answers


# ---------------------------------------------------------------- the DNS protocol (RFC 1035), A queries


_QR_RESPONSE = 1 << 15  # the header's QR bit: set in answers, clear in queries


def parse_query(packet: bytes) -> tuple[int, int, str, int, bytes]:
    """(id, flags, name, qtype, the question's bytes) of a query; ValueError if it is not one."""
    if len(packet) < 12:
        raise ValueError("shorter than a DNS header")
    ident, flags, questions = struct.unpack("!HHH", packet[:6])
    if questions != 1 or flags & _QR_RESPONSE:
        raise ValueError("not a query with one question")
    labels, at = [], 12
    while True:
        if at >= len(packet):
            raise ValueError("name runs past the packet")
        length = packet[at]
        if length == 0:
            at += 1
            break
        if length > 63:
            raise ValueError("compressed or oversized label in a question")
        labels.append(packet[at + 1 : at + 1 + length].decode("ascii", errors="replace"))
        at += 1 + length
    qtype, qclass = struct.unpack("!HH", packet[at : at + 4])
    if qclass != IN:
        raise ValueError("not class IN")
    return ident, flags, ".".join(labels), qtype, packet[12 : at + 4]


def answer(packet: bytes, known: dict[str, list[str]]) -> bytes:
    """The response to one query: A records for a known name, an empty answer for other types, else NXDOMAIN."""
    ident, flags, name, qtype, question = parse_query(packet)
    addresses = known.get(_key(name))
    rcode = 0 if addresses is not None else 3  # NXDOMAIN
    rows = addresses if (addresses and qtype == A) else []
    header = struct.pack("!HHHHHH", ident, 0x8400 | (flags & 0x0100) | rcode, 1, len(rows), 0, 0)  # QR AA (RD)
    body = b"".join(struct.pack("!HHHIH", 0xC00C, A, IN, TTL, 4) + socket.inet_aton(a) for a in rows)
    return header + question + body


def query(name: str, server: tuple[str, int], sock: socket.socket | None = None, timeout: float = 2.0) -> list[str]:
    """Ask ``server`` for the A records of ``name`` (a tiny stub resolver, for tests and the client)."""
    own = sock is None
    sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout)
        labels = b"".join(bytes([len(p)]) + p.encode() for p in _key(name).split(".")) + b"\0"
        sock.sendto(struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", A, IN), server)
        reply, _ = sock.recvfrom(4096)
    finally:
        if own:
            sock.close()
    count = struct.unpack("!H", reply[6:8])[0]
    if reply[3] & 0x0F == 3:
        return []
    at = 12 + len(labels) + 4
    found = []
    for _ in range(count):
        rtype, _, _, length = struct.unpack("!HHIH", reply[at + 2 : at + 12])
        if rtype == A:
            found.append(socket.inet_ntoa(reply[at + 12 : at + 12 + length]))
        at += 12 + length
    return found


# ---------------------------------------------------------------- the server


def write_resolv_conf(ns: Netns, address: str) -> Path:
    """Make the programs ``ns`` starts (Netns.popen, Netns.exec) resolve through the lab's DNS."""
    path = ns.etc("resolv.conf")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# the traffic lab's DNS (helpers/lab/dns.py)\nnameserver {address}\n")
    return path


def remove_resolv_conf(ns: Netns) -> None:
    path = ns.etc("resolv.conf")
    path.unlink(missing_ok=True)
    if path.parent.is_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()


def serve(sock: socket.socket, read=records, stop=lambda: False, log=print) -> None:
    """Answer queries on ``sock`` until ``stop()``; the records are read again at most once a second."""
    known, read_at = {}, 0.0
    sock.settimeout(0.2)
    while not stop():
        try:
            packet, peer = sock.recvfrom(4096)
        except TimeoutError:
            continue
        if time.monotonic() - read_at > REFRESH:
            try:
                known, read_at = read(), time.monotonic()
            except Exception as exc:  # noqa: BLE001 - the emulator restarting: keep the last answers
                log(f"lab dns: records not read ({exc}); answering from the last ones")
        try:
            sock.sendto(answer(packet, known), peer)
        except ValueError:
            continue  # not a query we answer: ignored, as a resolver does with garbage


def program(stop: threading.Event, log, *, endpoint: str, region: str, netns: str, bind: str) -> None:
    """The lab's DNS server on ``bind``:53 in ``netns`` until ``stop`` is set (a thread of the supervisor)."""
    made = {name: aws.emulator_client(name, endpoint, region) for name in ("ec2", "elbv2", "route53")}
    inside = Netns(netns)
    sock = inside.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((bind, PORT))
    except OSError as exc:
        sock.close()
        raise CourseError(
            f"The lab's DNS cannot listen on {bind}:{PORT} in {netns}: {exc.strerror or exc}.",
            "It answers on the internet namespace's client address, which the lab gives that namespace.",
            "python -m helpers lab down, then python -m helpers lab up",
        ) from None
    write_resolv_conf(inside, bind)
    try:
        serve(sock, read=lambda: records(client=made.__getitem__), stop=stop.is_set, log=log)
    finally:
        remove_resolv_conf(inside)
        sock.close()
