"""helpers/verify/rules.py: boto3's IpPermissions parsed into Rules, one per source, and each rule's text.

What an IpPermission holds, as AWS documents it
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpPermission.html): a protocol name
(tcp, udp, icmp, icmpv6) or number, -1 for all; FromPort/ToPort: the port range for TCP and UDP,
the ICMP type and code for ICMP (-1: all); IPv4 ranges, IPv6 ranges, groups, prefix lists.
"""

from __future__ import annotations

import pytest

from helpers.verify.ports import ALL_PORTS, NO_PORTS, Ports
from helpers.verify.rules import ALL, CIDR, GROUP, PREFIX_LIST, Rule, parse, parse_group, protocol, rule_ports


def permission(proto, ports=None, cidrs=(), v6=(), groups=(), prefix=()):
    p = {
        "IpProtocol": proto,
        "IpRanges": [{"CidrIp": c} for c in cidrs],
        "Ipv6Ranges": [{"CidrIpv6": c} for c in v6],
        "UserIdGroupPairs": [{"GroupId": g, "UserId": "123456789012"} for g in groups],
        "PrefixListIds": [{"PrefixListId": p} for p in prefix],
    }
    if ports is not None:
        p["FromPort"], p["ToPort"] = ports
    return p


@pytest.mark.parametrize(
    "spelling, one_spelling",
    [("-1", ALL), ("all", ALL), ("tcp", "tcp"), ("6", "tcp"), ("TCP", "tcp"), ("udp", "udp"), ("17", "udp")]
    + [("icmp", "icmp"), ("1", "icmp"), ("icmpv6", "icmpv6"), ("58", "icmpv6"), ("47", "47")],
)
def test_each_protocol_spelling_boto3_returns_has_one_spelling(spelling, one_spelling):
    assert protocol({"IpProtocol": spelling}) == one_spelling
    (rule,) = parse(permission(spelling, (80, 80), cidrs=["10.0.0.0/16"]))
    assert rule.protocol == one_spelling


@pytest.mark.parametrize(
    "proto, ports, covered, tcp",
    [
        ("tcp", (80, 80), Ports.of([(80, 80)]), Ports.of([(80, 80)])),
        ("6", (32768, 65535), Ports.of([(32768, 65535)]), Ports.of([(32768, 65535)])),
        ("tcp", (0, 65535), ALL_PORTS, ALL_PORTS),
        ("tcp", (-1, -1), ALL_PORTS, ALL_PORTS),  # how older APIs wrote "every port"
        ("udp", (53, 53), Ports.of([(53, 53)]), NO_PORTS),  # UDP carries no HTTP
        ("-1", None, ALL_PORTS, ALL_PORTS),  # every protocol: every port, TCP included
        ("-1", (0, 0), ALL_PORTS, ALL_PORTS),  # -1 allows every port whatever range is given
        ("icmp", (8, 0), ALL_PORTS, NO_PORTS),  # ICMP type and code are not ports
        ("47", (80, 80), ALL_PORTS, NO_PORTS),  # another protocol number: every port, as AWS says
    ],
)
def test_port_ranges(proto, ports, covered, tcp):
    p = permission(proto, ports, cidrs=["10.0.0.0/16"])
    (rule,) = parse(p)
    assert rule.ports == covered == rule_ports(p)
    assert rule.tcp_ports == tcp


def test_icmp_type_and_code_are_kept_apart_from_ports():
    (echo,) = parse(permission("icmp", (8, 0), cidrs=["0.0.0.0/0"]))
    (any_code,) = parse(permission("icmp", (3, -1), cidrs=["0.0.0.0/0"]))
    (every,) = parse(permission("icmpv6", (-1, -1), v6=["::/0"]))
    assert (echo.icmp_type, echo.icmp_code) == (8, 0)
    assert (any_code.icmp_type, any_code.icmp_code) == (3, None)
    assert (every.icmp_type, every.icmp_code) == (None, None)
    (tcp,) = parse(permission("tcp", (8, 8), cidrs=["0.0.0.0/0"]))
    assert (tcp.icmp_type, tcp.icmp_code) == (None, None)


def test_one_rule_per_source_in_aws_order():
    p = permission("tcp", (443, 443), cidrs=["0.0.0.0/0", "10.0.0.0/8"], v6=["::/0"], groups=["sg-1"], prefix=["pl-1"])
    rules = parse(p)
    assert [(r.peer_kind, r.peer) for r in rules] == [
        (CIDR, "0.0.0.0/0"),
        (CIDR, "10.0.0.0/8"),
        (CIDR, "::/0"),
        (GROUP, "sg-1"),
        (PREFIX_LIST, "pl-1"),
    ]
    assert {(r.protocol, r.ports, r.egress) for r in rules} == {("tcp", Ports.of([(443, 443)]), False)}
    assert parse(permission("tcp", (443, 443))) == ()  # no source: no rule


def test_rules_are_frozen_and_hashable():
    (rule,) = parse(permission("tcp", (80, 80), groups=["sg-1"]))
    assert rule == Rule("tcp", Ports.of([(80, 80)]), "sg-1", GROUP)
    assert len({rule, Rule("tcp", Ports.of([(80, 80)]), "sg-1", GROUP)}) == 1
    with pytest.raises(AttributeError):
        rule.peer = "sg-2"


def test_a_group_parsed_ingress_or_egress():
    group = {
        "GroupId": "sg-alb",
        "IpPermissions": [permission("tcp", (443, 443), cidrs=["0.0.0.0/0"])],
        "IpPermissionsEgress": [permission("tcp", (32768, 65535), cidrs=["10.0.0.0/16"])],
    }
    assert [r.text() for r in parse_group(group)] == ["tcp port 443 from 0.0.0.0/0"]
    assert [r.text() for r in parse_group(group, egress=True)] == ["tcp ports 32768-65535 to 10.0.0.0/16"]


@pytest.mark.parametrize(
    "p, egress, shown",
    [
        # the two texts notebooks 03 and 07 print and assert (sg_rules.cidr_ingress)
        (permission("tcp", (443, 443), cidrs=["0.0.0.0/0"]), False, "tcp port 443 from 0.0.0.0/0"),
        (permission("tcp", (80, 80), cidrs=["0.0.0.0/0"]), False, "tcp port 80 from 0.0.0.0/0"),
        (permission("6", (32768, 65535), groups=["sg-alb"]), False, "tcp ports 32768-65535 from sg-alb"),
        (permission("tcp", (0, 65535), v6=["::/0"]), False, "tcp all ports from ::/0"),
        (permission("udp", (53, 53), cidrs=["10.0.0.2/32"]), True, "udp port 53 to 10.0.0.2/32"),
        (permission("-1", None, cidrs=["0.0.0.0/0"]), True, "all traffic to 0.0.0.0/0"),
        (permission("-1", None, groups=["sg-alb"]), False, "all traffic from sg-alb"),
        (permission("icmp", (-1, -1), cidrs=["0.0.0.0/0"]), False, "icmp from 0.0.0.0/0"),
        (permission("icmp", (8, -1), cidrs=["0.0.0.0/0"]), False, "icmp type 8 from 0.0.0.0/0"),
        (permission("58", (128, 0), v6=["2001:db8::/32"]), False, "icmpv6 type 128 code 0 from 2001:db8::/32"),
        (permission("47", None, cidrs=["10.0.0.0/16"]), False, "protocol 47 from 10.0.0.0/16"),
        (permission("tcp", (443, 443), prefix=["pl-1"]), False, "tcp port 443 from prefix list pl-1"),
    ],
)
def test_text(p, egress, shown):
    (rule,) = parse(p, egress)
    assert rule.text() == shown


def test_parse_reads_the_emulators_real_describe_security_groups(emulator_url):
    """The shapes boto3 returns, not hand-written ones: the emulator stores and returns each protocol."""
    from helpers.runtime import aws

    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.93.0.0/16")["Vpc"]["VpcId"]
    alb = ec2.create_security_group(GroupName="rules-alb", Description="alb", VpcId=vpc)["GroupId"]
    gid = ec2.create_security_group(GroupName="rules-web", Description="web", VpcId=vpc)["GroupId"]
    try:
        ec2.authorize_security_group_ingress(
            GroupId=gid,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": alb}]},
                {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.93.0.0/16"}]},
                {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.93.1.0/24"}]},
                {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]},
            ],
        )
        group = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
        assert sorted(r.text() for r in parse_group(group)) == [
            "all traffic from 2001:db8::/32",
            "icmp type 8 from 10.93.1.0/24",
            f"tcp ports 32768-65535 from {alb}",
            "udp port 53 from 10.93.0.0/16",
        ]
        # a new group's default egress: every protocol to anywhere ("-1" in boto3's answer)
        assert [r.text() for r in parse_group(group, egress=True)] == ["all traffic to 0.0.0.0/0"]
    finally:
        for group_id in (gid, alb):  # the one that refers to the other first
            ec2.delete_security_group(GroupId=group_id)
        ec2.delete_vpc(VpcId=vpc)
