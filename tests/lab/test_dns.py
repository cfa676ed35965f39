"""The lab's DNS: Route 53's answers, over real UDP (on loopback here; in the lab, the internet namespace)."""

from __future__ import annotations

import socket
import threading

import pytest

from helpers.lab import dns

KNOWN = {"app.ecs-alb.example": ["203.0.113.10", "203.0.113.11"], "empty.example": []}


@pytest.fixture
def server():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    stop = threading.Event()
    thread = threading.Thread(target=dns.serve, args=(sock,), kwargs={"read": lambda: KNOWN, "stop": stop.is_set})
    thread.start()
    yield sock.getsockname()
    stop.set()
    thread.join(timeout=5)
    sock.close()


def test_an_alias_name_resolves_to_the_load_balancers_node_addresses(server):
    assert dns.query("app.ecs-alb.example", server) == ["203.0.113.10", "203.0.113.11"]
    assert dns.query("APP.ecs-alb.example.", server) == ["203.0.113.10", "203.0.113.11"], "names are case-insensitive"


def test_an_unknown_name_is_nxdomain_and_garbage_is_ignored(server):
    assert dns.query("nowhere.example", server) == []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.settimeout(0.5)
        raw.sendto(b"not dns", server)
        with pytest.raises(TimeoutError):
            raw.recvfrom(512)
    assert dns.query("app.ecs-alb.example", server), "the server still answers"


def test_the_answer_is_a_well_formed_authoritative_response():
    query = bytes.fromhex("abcd01000001000000000000") + b"\x03app\x07ecs-alb\x07example\x00" + b"\x00\x01\x00\x01"
    reply = dns.answer(query, KNOWN)
    assert reply[:2] == b"\xab\xcd" and reply[2] & 0x80 and reply[2] & 0x04, "same id, a response, authoritative"
    assert int.from_bytes(reply[6:8], "big") == 2, "two A records"
    nx = dns.answer(query.replace(b"\x03app", b"\x03bpp"), KNOWN)
    assert nx[3] & 0x0F == 3, "NXDOMAIN"
    aaaa = dns.answer(query[:-4] + b"\x00\x1c\x00\x01", KNOWN)
    assert aaaa[3] & 0x0F == 0 and int.from_bytes(aaaa[6:8], "big") == 0, "a known name has no AAAA: empty answer"


def test_records_come_from_route_53_and_the_load_balancers_nodes(emulator_url):
    """An alias A record to an ALB answers its nodes' public addresses; a plain A record its values."""
    from helpers.lab import model
    from helpers.runtime import aws

    ec2, elbv2, route53 = aws.client("ec2"), aws.client("elbv2"), aws.client("route53")
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.61.{n}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
            "SubnetId"
        ]
        for n, z in ((1, "a"), (2, "b"))
    ]
    lb = elbv2.create_load_balancer(Name="dns-test", Subnets=subnets)["LoadBalancers"][0]
    zone = route53.create_hosted_zone(Name="dns-test.example", CallerReference="dns-test")["HostedZone"]["Id"]
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": "app.dns-test.example",
                "Type": "A",
                "AliasTarget": {
                    "HostedZoneId": lb["CanonicalHostedZoneId"],
                    "DNSName": lb["DNSName"],
                    "EvaluateTargetHealth": True,
                },
            },
        },
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": "db.dns-test.example",
                "Type": "A",
                "TTL": 60,
                "ResourceRecords": [{"Value": "10.61.9.9"}],
            },
        },
    ]
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    try:
        lab = model.read()
        nodes = sorted(h.public_ip for h in lab.hosts if h.lb_arn == lb["LoadBalancerArn"])
        known = dns.records(lab)
        assert len(nodes) == 2 and known["app.dns-test.example"] == nodes
        assert known[lb["DNSName"].lower()] == nodes, "the load balancer's own name answers the same"
        assert known["db.dns-test.example"] == ["10.61.9.9"]
    finally:
        route53.change_resource_record_sets(
            HostedZoneId=zone, ChangeBatch={"Changes": [{**c, "Action": "DELETE"} for c in changes]}
        )
        route53.delete_hosted_zone(Id=zone)
        elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        for subnet in subnets:
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc)
