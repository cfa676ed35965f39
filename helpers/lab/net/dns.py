"""The lab's DNS: answers from the emulator's Route 53 records, inside the lab only.

    dns.program(stop, log, endpoint=URL, region=R, netns="lab-<ws>-internet", bind=ADDRESS)
    dns.answer(packet, known) → the response's bytes (ValueError: not a query this server answers)

``program`` runs in a thread of the lab's supervisor (helpers/lab/control/supervisor.py) until ``stop`` is set.

A name resolves as Route 53 would answer it: an A record to its values; an alias A record to a load
balancer to the public addresses of that load balancer's nodes (one per subnet,
https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-choosing-alias-non-alias.html),
and so does the load balancer's own DNS name. A known name has no record of another type (an empty
answer); anything else is NXDOMAIN. The server listens only in the lab's internet namespace (its socket
is made there, Netns.socket; the thread stays in the host's namespace, where it reaches the emulator),
and the namespace's resolv.conf (``/etc/netns/<ns>/resolv.conf``, which ``ip netns exec`` puts in place
of /etc/resolv.conf, helpers/lab/net/netns.py) names it, so any program the lab runs there (the lab's client,
``python -m helpers lab exec -- curl``, dig) resolves the course's domain.

The DNS messages are read and written by dnspython (https://www.dnspython.org/, ``dns.message``),
not by code of the course's own: it is maintained, typed, pure Python, and it is also the resolver
the tests ask the server with (``dns.resolver``), beside dig. dnslib would do too; dnspython was
chosen for being the more widely used of the two and for bringing that client with it.

The records are read again at most once a second, so a new alias is answered within a second.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from ...errors import CourseError
from ...runtime import aws
from .. import model
from .netns import Netns

PORT = 53
TTL = 60  # seconds, what an alias answer to an ALB carries on AWS
REFRESH = 1.0  # seconds between two readings of the records
MAX_PACKET = 4096  # bytes read for one query


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


# ---------------------------------------------------------------- one answer


def answer(packet: bytes, known: dict[str, list[str]]) -> bytes:
    """The response to one query: A records for a known name, an empty answer for its other types, else
    NXDOMAIN; authoritative (AA), with the query's id, question and RD flag. ValueError for anything
    that is not one standard query of class IN (a resolver ignores such packets, and so does serve())."""
    try:
        query = dns.message.from_wire(packet)
    except dns.exception.DNSException as exc:
        raise ValueError(f"not a DNS message: {exc}") from None
    if query.flags & dns.flags.QR or query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
        raise ValueError("not a query with one question")
    question = query.question[0]
    if question.rdclass != dns.rdataclass.IN:
        raise ValueError("not class IN")
    response = dns.message.make_response(query)  # the id, the question, RD; EDNS when the query has it
    response.flags |= dns.flags.AA
    addresses = known.get(_key(question.name.to_text()))
    if addresses is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
    elif addresses and question.rdtype == dns.rdatatype.A:
        response.answer.append(
            dns.rrset.from_text_list(question.name, TTL, dns.rdataclass.IN, dns.rdatatype.A, addresses)
        )
    return response.to_wire(want_shuffle=False)  # in the records' order: dnspython shuffles them by default


# ---------------------------------------------------------------- the server


def write_resolv_conf(ns: Netns, address: str) -> Path:
    """Make the programs ``ns`` starts (Netns.popen, Netns.exec) resolve through the lab's DNS."""
    path = ns.etc("resolv.conf")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# the traffic lab's DNS (helpers/lab/net/dns.py)\nnameserver {address}\n")
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
            packet, peer = sock.recvfrom(MAX_PACKET)
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
