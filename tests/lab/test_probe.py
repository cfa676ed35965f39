"""probe(): a real connection answers reachable, refused or blocked (helpers/lab/net/probe.py).

Security groups drop what they do not allow, silently: the sender times out
(https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html).
"""

from __future__ import annotations

import time

import pytest

from helpers.errors import CourseError
from helpers.lab import model
from helpers.lab.net import kernel
from helpers.lab.net.probe import probe
from helpers.runtime import emulator
from tests.support import lab_support as lab


def tcp(low, high=None, **source):
    rule = {"IpProtocol": "tcp", "FromPort": low, "ToPort": high or low}
    rule.update({k: v for k, v in source.items()})
    return rule


@pytest.fixture(scope="module")
def world():
    """An ALB node group, instances allowing 32768-65535 from it only, and a client instance."""
    lab.require_kernel()
    emulator.ensure()
    ws = lab.test_tag()
    with lab.small_vpc("10.86.0.0/16") as made:
        try:
            alb_sg = lab.group(made, "alb", [tcp(443, IpRanges=[{"CidrIp": "0.0.0.0/0"}])])
            web_sg = lab.group(made, "web", [tcp(32768, 65535, UserIdGroupPairs=[{"GroupId": alb_sg}])])
            other_sg = lab.group(made, "other", egress=[tcp(5432, IpRanges=[{"CidrIp": "10.86.0.0/16"}])])
            udp_sg = lab.group(
                made,
                "udp",
                [{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.86.0.0/16"}]}],
            )
            web = lab.instance(made, "subnet_a", [web_sg])["InstanceId"]
            other = lab.instance(made, "subnet_b", [other_sg])["InstanceId"]
            dns = lab.instance(made, "subnet_b", [udp_sg])["InstanceId"]
            lab.load_balancer(made, [alb_sg])
            m = model.read().only([made["vpc"]])
            kernel.apply(ws, m)
            node = next(h.id for h in m.hosts if h.role == "alb")
            yield {"ws": ws, "model": m, "web": web, "other": other, "dns": dns, "alb": node}
        finally:
            kernel.remove_all(ws)


def test_alb_reaches_the_dynamic_ports_the_internet_does_not(world):
    m, ws = world["model"], world["ws"]
    assert probe(m, world["alb"], world["web"], 32768, ws=ws) == "reachable"
    assert probe(m, world["alb"], world["web"], 65535, ws=ws) == "reachable"
    started = time.monotonic()
    assert probe(m, "internet", world["web"], 32768, ws=ws, timeout=0.3) == "blocked"
    # a drop is certain only by timing out: the probe's own timeout, not TCP's SYN retries (about two minutes);
    # loose, since the worker may wait for the CPU
    assert time.monotonic() - started < 5.0
    assert probe(m, world["alb"], world["web"], 8080, ws=ws, timeout=0.3) == "blocked"
    assert probe(m, "internet", world["alb"], 443, ws=ws) == "reachable"
    assert probe(m, "internet", world["alb"], 80, ws=ws, timeout=0.3) == "blocked"


def test_refused_when_nothing_listens(world):
    assert probe(world["model"], "internet", world["alb"], 443, ws=world["ws"], listen=False) == "refused"


def test_egress_rules_block_on_the_way_out(world):
    m, ws = world["model"], world["ws"]
    assert probe(m, world["other"], world["alb"], 443, ws=ws, timeout=0.3) == "blocked"  # egress only to 5432
    assert probe(m, world["alb"], world["other"], 5432, ws=ws, timeout=0.3) == "blocked"  # other's ingress: nothing


def test_udp_probe(world):
    m, ws = world["model"], world["ws"]
    assert probe(m, world["alb"], world["dns"], 53, "udp", ws=ws) == "reachable"
    assert probe(m, world["alb"], world["dns"], 54, "udp", ws=ws, timeout=0.3) == "blocked"


def test_host_without_public_address_is_not_on_the_internet(world):
    assert probe(world["model"], "internet", world["other"], 5432, ws=world["ws"]) == "blocked"


def test_bad_inputs_are_one_clear_message(world):
    with pytest.raises(CourseError, match="choose one of"):
        probe(world["model"], "internet", "i-nothere", 80, ws=world["ws"])
    with pytest.raises(CourseError, match="tcp or udp"):
        probe(world["model"], "internet", world["alb"], 80, "icmp", ws=world["ws"])
