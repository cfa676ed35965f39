"""Addresses for the audit: CIDR blocks as AWS parses them; public or not, contained, overlapping.

A source range counts for the audit by what it holds: the whole internet (/0), a public range, or a
private one (RFC 6890's special-purpose blocks, https://www.rfc-editor.org/rfc/rfc6890). Pure.
"""

from __future__ import annotations

import ipaddress

from ...errors import CourseError

# Address blocks that are not reachable from the internet (RFC 6890 special
# purpose, private, shared, loopback, link-local, multicast, reserved). The
# documentation blocks (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
# 2001:db8::/32) count as public here: examples use them to stand for "some
# address on the internet", as this course does for the remote database.
NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


def network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR as a network; host bits set are an error, as they are for AWS."""
    try:
        return ipaddress.ip_network(cidr, strict=True)
    except ValueError as error:
        raise CourseError(
            f"{cidr!r} is not a valid CIDR block.",
            f"{error}. A CIDR is an address, a slash and a prefix length, with no host bits set.",
            "write it like 10.0.0.0/16, 0.0.0.0/0 or 2001:db8::/32.",
        ) from None


def is_public(net) -> bool:
    """True when some address of ``net`` is on the public internet."""
    net = network(net) if isinstance(net, str) else net
    return not any(net.version == block.version and net.subnet_of(block) for block in NOT_PUBLIC)


def contains(outer, inner) -> bool:
    """Every address of ``inner`` is in ``outer`` (different IP versions never match)."""
    outer = network(outer) if isinstance(outer, str) else outer
    inner = network(inner) if isinstance(inner, str) else inner
    return outer.version == inner.version and inner.subnet_of(outer)


def overlaps(a, b) -> bool:
    a = network(a) if isinstance(a, str) else a
    b = network(b) if isinstance(b, str) else b
    return a.version == b.version and a.overlaps(b)
