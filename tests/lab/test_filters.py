"""Security groups compiled into nftables (helpers/lab/net/filters.py).

Semantics from https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html:
rules only allow, stateful, protocol/port/source, group references match the members' private
addresses, anything else dropped.
"""

from __future__ import annotations

import subprocess

import pytest

from helpers.errors import CourseError
from helpers.lab import model
from helpers.lab.net import filters
from tests.support import lab_support as lab


def perm(protocol="tcp", low=None, high=None, **kw) -> model.Permission:
    return model.Permission(protocol, low, high, **{k: tuple(v) for k, v in kw.items()})


def host(hid, ip, groups, role="ec2") -> model.Host:
    return model.Host(hid, role, "vpc-1", "subnet-1", ip, None, tuple(groups))


def world(ingress=(), egress=(), other_ingress=()) -> tuple[model.Model, model.Host]:
    web = model.SecurityGroup("sg-web", "web", "vpc-1", tuple(ingress), tuple(egress))
    alb = model.SecurityGroup("sg-alb", "alb", "vpc-1", tuple(other_ingress), ())
    target = host("i-1", "10.0.1.4", ["sg-web"])
    nodes = (host("alb-a", "10.0.1.254", ["sg-alb"], "alb"), host("alb-b", "10.0.2.254", ["sg-alb"], "alb"))
    m = model.Model((model.Vpc("vpc-1", "10.0.0.0/16"),), (), (web, alb), (target, *nodes))
    return m, target


def lines(m, h, direction="ingress"):
    return [line for r in filters.compile_host(m, h) if r.direction == direction for line in r.nft]


def test_tcp_port_range_from_a_cidr():
    m, h = world([perm("tcp", 32768, 65535, ipv4=["10.0.0.0/16"])])
    assert lines(m, h) == [
        "ip saddr 10.0.0.0/16 meta l4proto tcp th dport 32768-65535 accept comment "
        '"sg-web ingress #0: tcp ports 32768-65535 from 10.0.0.0/16"'
    ]


def test_single_port_and_the_whole_internet_v4_and_v6():
    m, h = world([perm("tcp", 443, 443, ipv4=["0.0.0.0/0"], ipv6=["::/0"])])
    rules = lines(m, h)
    assert rules[0].startswith("meta nfproto ipv4 meta l4proto tcp th dport 443 accept")
    assert rules[1].startswith("meta nfproto ipv6 meta l4proto tcp th dport 443 accept")


def test_group_reference_resolves_to_the_members_private_addresses():
    m, h = world([perm("tcp", 80, 80, groups=["sg-alb"])])
    assert lines(m, h)[0].startswith("ip saddr { 10.0.1.254, 10.0.2.254 } meta l4proto tcp th dport 80 accept")


def test_reference_to_a_group_without_members_allows_nothing():
    m, h = world([perm("tcp", 80, 80, groups=["sg-empty"])])
    assert lines(m, h) == []
    assert "no members" in filters.listing(m, h)


def test_all_protocols_udp_icmp_and_ipv6_hosts():
    m, h = world(
        [
            perm("-1", ipv4=["10.0.5.0/24"]),
            perm("udp", 53, 53, ipv4=["10.0.0.2/32"]),
            perm("icmp", 8, -1, ipv4=["0.0.0.0/0"]),
            perm("icmp", -1, -1, ipv6=["2001:db8::/32"]),  # an ICMP (v4) rule never matches IPv6
            perm("58", 128, 0, ipv6=["2001:db8::1/128"]),
        ]
    )
    rules = [r.split(" comment ")[0] for r in lines(m, h)]
    assert rules == [
        "ip saddr 10.0.5.0/24 accept",
        "ip saddr 10.0.0.2 meta l4proto udp th dport 53 accept",
        "meta nfproto ipv4 meta l4proto icmp icmp type 8 accept",
        "ip6 saddr 2001:db8::1 meta l4proto ipv6-icmp icmpv6 type 128 icmpv6 code 0 accept",
    ]


def test_egress_rules_match_the_destination():
    m, h = world(egress=[perm("tcp", 5432, 5432, ipv4=["10.0.9.0/24"])])
    assert lines(m, h, "egress")[0].startswith("ip daddr 10.0.9.0/24 meta l4proto tcp th dport 5432 accept")


def test_prefix_list_rule_is_refused_naming_the_rule():
    m, h = world([perm("tcp", 443, 443, prefix_lists=["pl-123"])])
    with pytest.raises(CourseError, match=r"tcp port 443 from prefix list pl-123 of sg-web \(ingress\)"):
        filters.compile_host(m, h)


def test_ruleset_is_stateful_drops_the_rest_and_hooks_before_dnat():
    """Ingress on prerouting -150 (original destination port), then established/related, rules, drop."""
    m, h = world([perm("tcp", 80, 80, ipv4=["0.0.0.0/0"])])
    text = filters.ruleset(m, h)
    ingress = text.split("chain ingress {")[1].split("}")[0]
    assert "type filter hook prerouting priority -150;" in ingress
    order = [ingress.index(s) for s in ("ct state established,related accept", "th dport 80 accept", "    drop")]
    assert order == sorted(order)
    assert "hook output priority -150" in text and "hook forward priority -150" in text
    assert "reject" not in text  # a drop, as AWS: the sender times out


def test_listing_shows_each_group_rule_with_its_nft_rules():
    m, h = world([perm("tcp", 32768, 65535, groups=["sg-alb"])])
    text = filters.listing(m, h)
    assert "sg-web #0: tcp ports 32768-65535 from sg-alb" in text
    assert "nft: ip saddr { 10.0.1.254, 10.0.2.254 } meta l4proto tcp th dport 32768-65535 accept" in text


def test_nft_accepts_the_ruleset(tmp_path):
    """nft -c (check only) parses every kind of rule the compiler writes, in a throwaway namespace."""
    lab.require_kernel()
    m, h = world(
        [
            perm("tcp", 32768, 65535, groups=["sg-alb"]),
            perm("-1", ipv4=["10.0.5.0/24"], ipv6=["::/0"]),
            perm("icmp", 8, 0, ipv4=["0.0.0.0/0"]),
            perm("udp", 0, 65535, ipv6=["2001:db8::/32"]),
            perm("58", -1, -1, ipv6=["2001:db8::/32"]),
        ],
        egress=[perm("-1", ipv4=["0.0.0.0/0"])],
    )
    path = tmp_path / "sg.nft"
    path.write_text(filters.ruleset(m, h))
    proc = subprocess.run(
        ["unshare", "--net", "nft", "-c", "-f", str(path)], capture_output=True, text=True, timeout=20
    )
    assert proc.returncode == 0, proc.stderr + path.read_text()
