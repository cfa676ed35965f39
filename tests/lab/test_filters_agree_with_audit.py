"""The reachability audit and the kernel agree (issue 13, item 8).

Hypothesis draws small security-group configurations for three instances of one VPC (CIDRs
from /0 to /32, references to another group, port ranges, protocol -1, IPv6 ranges, custom
egress), applies them with boto3 to the emulator, syncs the lab, and for every source,
destination and port it draws, asserts that ``helpers.verify.audit.analysis.evaluate`` (the
audit's rule evaluation, as AWS documents security groups:
https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html) predicts what
``probe`` measures with a real TCP connection: allowed ⇔ reachable, else blocked.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from helpers.lab import model
from helpers.lab.net import kernel
from helpers.lab.net.probe import predict, probe
from helpers.runtime import aws, emulator
from tests.support import lab_support as lab

PORTS = (22, 80, 443, 8080, 32768, 40000, 65535)
SCOPES = {"group", "private range", "public range", "anyone"}  # a /32 peer is never "partial"
HOSTS = 3
TIMEOUT = 0.25


@pytest.fixture(scope="module")
def vpc():
    """Three instances (one with a public address), each in a group of its own."""
    lab.require_kernel()
    emulator.ensure()
    ws = lab.test_tag()
    with lab.small_vpc("10.91.0.0/16") as made:
        try:
            groups = [lab.group(made, f"h{n}") for n in range(HOSTS)]  # replaced by each example's own
            subnets = ("subnet_a", "subnet_b", "subnet_b")
            found = [lab.instance(made, subnets[n], [groups[n]]) for n in range(HOSTS)]
            yield {
                "made": made,
                "ws": ws,
                "vpc": made["vpc"],
                "groups": groups,
                "ids": [i["InstanceId"] for i in found],
                "ips": [i["PrivateIpAddress"] for i in found],
            }
        finally:
            kernel.remove_all(ws)


def sources(ips):
    """What a rule may name: CIDRs (/0, the VPC, a subnet, a host's /32, elsewhere, IPv6) or a group (by index)."""
    cidrs = st.sampled_from(
        ["0.0.0.0/0", "10.91.0.0/16", "10.91.1.0/24", "10.91.2.0/24", "192.168.0.0/16", "198.51.100.0/24"]
        + [f"{ip}/32" for ip in ips]
    )
    return st.one_of(
        cidrs.map(lambda c: ("v4", c)),
        st.sampled_from(["::/0", "2001:db8::/32"]).map(lambda c: ("v6", c)),
        st.integers(0, HOSTS - 1).map(lambda g: ("group", g)),
    )


def rules(ips):
    ports = st.lists(st.sampled_from(PORTS), min_size=1, max_size=2).map(lambda p: (min(p), max(p)))
    proto = st.one_of(st.just(("-1", None)), ports.map(lambda p: ("tcp", p)))
    return st.lists(st.tuples(proto, sources(ips)), max_size=3)


def permissions(drawn, groups) -> list[dict]:
    """boto3 IpPermissions, one per protocol/port range (sources merged, as AWS keeps them)."""
    merged: dict = {}
    for (proto, ports), (kind, value) in drawn:
        entry = merged.setdefault((proto, ports), {"v4": set(), "v6": set(), "group": set()})
        entry[kind].add(groups[value] if kind == "group" else value)
    result = []
    for (proto, ports), found in sorted(merged.items(), key=str):
        p = {"IpProtocol": proto}
        if ports:
            p["FromPort"], p["ToPort"] = ports
        if found["v4"]:
            p["IpRanges"] = [{"CidrIp": c} for c in sorted(found["v4"])]
        if found["v6"]:
            p["Ipv6Ranges"] = [{"CidrIpv6": c} for c in sorted(found["v6"])]
        if found["group"]:
            p["UserIdGroupPairs"] = [{"GroupId": g} for g in sorted(found["group"])]
        result.append(p)
    return result


def fresh_groups(vpc: dict, ingress: list, egress: list) -> list[str]:
    """New groups with exactly the drawn rules, swapped onto the instances (moto cannot revoke every rule it stores)."""
    ec2 = aws.client("ec2")
    groups = [lab.group(vpc["made"], f"h{n}") for n in range(HOSTS)]
    for n, gid in enumerate(groups):
        if ingress[n]:
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=permissions(ingress[n], groups))
        if egress[n] is not None:
            ec2.revoke_security_group_egress(
                GroupId=gid, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
            )
            if egress[n]:
                ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=permissions(egress[n], groups))
    for instance_id, gid in zip(vpc["ids"], groups, strict=True):
        ec2.modify_instance_attribute(InstanceId=instance_id, Groups=[gid])
    return groups


def predicted(m: model.Model, src: str, dst: str, port: int) -> str:
    """The audit's answer (helpers/lab/net/probe.py's predict: the audit's evaluate on the lab's model)."""
    return predict(m, src, dst, port)


@st.composite
def configurations(draw, ips):
    ingress = [draw(rules(ips)) for _ in range(HOSTS)]
    egress = [draw(st.one_of(st.none(), rules(ips))) for _ in range(HOSTS)]
    pairs = st.tuples(
        st.sampled_from(["internet", *range(HOSTS)]), st.integers(0, HOSTS - 1), st.sampled_from(PORTS)
    ).filter(lambda t: t[0] != t[1])
    return ingress, egress, draw(st.lists(pairs, min_size=1, max_size=4, unique=True))


def test_audit_prediction_equals_what_probe_measures(vpc):
    ids = vpc["ids"]
    seen = set()

    @settings(
        max_examples=15,
        deadline=None,  # each example syncs the kernel and waits out drops: seconds, not milliseconds
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its example as drawn
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(configurations(vpc["ips"]))
    # Two drawn by hand, so both answers occur whatever is generated: a group reference and the internet on /0.
    @example(([[], [(("tcp", (80, 8080)), ("group", 0))], []], [None, None, None], [(0, 1, 443), (2, 1, 443)]))
    @example(([[(("-1", None), ("v4", "0.0.0.0/0"))], [], []], [None, None, None], [("internet", 0, 22)]))
    def check(config):
        ingress, egress, pairs = config
        fresh_groups(vpc, ingress, egress)
        m = model.read().only([vpc["vpc"]])
        kernel.apply(vpc["ws"], m)
        for src, dst, port in pairs:
            source = src if src == "internet" else ids[src]
            expected = predicted(m, source, ids[dst], port)
            measured = probe(m, source, ids[dst], port, ws=vpc["ws"], timeout=TIMEOUT)
            seen.add(measured)
            assert measured == expected, (source, ids[dst], port, [g.as_boto() for g in m.groups])

    check()
    assert seen == {"reachable", "blocked"}  # both answers were measured (and each agreed with the audit)
