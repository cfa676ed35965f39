"""The lab's DNS (helpers/lab/net/dns.py, on dnspython): Route 53's answers, over real UDP, asked by real clients.

Here the server listens on loopback and is asked by dnspython's resolver and by dig (bind9-dnsutils);
in the lab it listens in the internet namespace (tests/lab/test_exec.py asks it there with dig).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.resolver
import pytest

from helpers.lab.net import dns as lab_dns

KNOWN = {"app.ecs-alb.example": ["203.0.113.10", "203.0.113.11"], "empty.example": []}


@pytest.fixture
def server():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    stop = threading.Event()
    thread = threading.Thread(target=lab_dns.serve, args=(sock,), kwargs={"read": lambda: KNOWN, "stop": stop.is_set})
    thread.start()
    yield sock.getsockname()
    stop.set()
    thread.join(timeout=5)
    sock.close()


def resolver(server) -> dns.resolver.Resolver:
    """dnspython's stub resolver, asking only the lab's server (no /etc/resolv.conf, no retry elsewhere)."""
    asker = dns.resolver.Resolver(configure=False)
    asker.nameservers, asker.port = [server[0]], server[1]
    asker.lifetime = 5.0
    return asker


def addresses(asker: dns.resolver.Resolver, name: str) -> list[str]:
    return sorted(record.address for record in asker.resolve(name, "A"))


def test_an_alias_name_resolves_to_the_load_balancers_node_addresses(server):
    asker = resolver(server)
    assert addresses(asker, "app.ecs-alb.example") == ["203.0.113.10", "203.0.113.11"]
    assert addresses(asker, "APP.ecs-alb.example.") == ["203.0.113.10", "203.0.113.11"], "names are case-insensitive"
    answer = asker.resolve("app.ecs-alb.example", "A")
    assert answer.rrset.ttl == lab_dns.TTL and answer.response.flags & dns.flags.AA, "authoritative, the ALB's TTL"


def test_an_unknown_name_is_nxdomain_a_known_one_has_no_other_type_and_garbage_is_ignored(server):
    asker = resolver(server)
    with pytest.raises(dns.resolver.NXDOMAIN):
        asker.resolve("nowhere.example", "A")
    with pytest.raises(dns.resolver.NoAnswer):
        asker.resolve("app.ecs-alb.example", "AAAA")  # the name exists: NOERROR, an empty answer
    with pytest.raises(dns.resolver.NoAnswer):
        asker.resolve("empty.example", "A")  # an alias to a load balancer without a public node
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.settimeout(0.5)
        raw.sendto(b"not dns", server)
        with pytest.raises(TimeoutError):
            raw.recvfrom(512)
    assert addresses(asker, "app.ecs-alb.example"), "the server still answers"


def test_dig_gets_the_same_answers(server):
    """dig, the DNS client most people reach for (bind9-dnsutils), against the server."""
    if not shutil.which("dig"):
        if os.environ.get("CI"):
            pytest.fail("dig is missing (`make test` installs bind9-dnsutils as root)", pytrace=False)
        pytest.skip("dig is missing: apt-get install bind9-dnsutils")
    host, port = server

    def dig(*args: str) -> str:
        done = subprocess.run(["dig", f"@{host}", "-p", str(port), *args],  # dig's timing: 5 s a try, 3 tries
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert sorted(dig("+short", "app.ecs-alb.example").split()) == ["203.0.113.10", "203.0.113.11"]
    full = dig("app.ecs-alb.example", "A")
    assert "status: NOERROR" in full and " aa" in full.split("flags:")[1].split(";")[0], full
    assert "status: NXDOMAIN" in dig("nowhere.example", "A")
    assert "ANSWER: 0" in dig("app.ecs-alb.example", "AAAA")


def test_the_answer_is_a_well_formed_authoritative_response():
    query = bytes.fromhex("abcd01000001000000000000") + b"\x03app\x07ecs-alb\x07example\x00" + b"\x00\x01\x00\x01"
    reply = lab_dns.answer(query, KNOWN)
    assert reply[:2] == b"\xab\xcd" and reply[2] & 0x80 and reply[2] & 0x04, "same id, a response, authoritative"
    assert reply[2] & 0x01, "recursion desired, copied from the query"
    assert int.from_bytes(reply[6:8], "big") == 2, "two A records"
    nx = lab_dns.answer(query.replace(b"\x03app", b"\x03bpp"), KNOWN)
    assert nx[3] & 0x0F == 3, "NXDOMAIN"
    aaaa = lab_dns.answer(query[:-4] + b"\x00\x1c\x00\x01", KNOWN)
    assert aaaa[3] & 0x0F == 0 and int.from_bytes(aaaa[6:8], "big") == 0, "a known name has no AAAA: empty answer"
    parsed = dns.message.from_wire(reply)
    assert parsed.rcode() == dns.rcode.NOERROR and [r.address for r in parsed.answer[0]] == KNOWN["app.ecs-alb.example"]


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        bytes.fromhex("abcd81000001000000000000") + b"\x03app\x00\x00\x01\x00\x01",  # a response, not a query
        bytes.fromhex("abcd01000000000000000000"),  # no question
        bytes.fromhex("abcd01000001000000000000") + b"\x03app\x00\x00\x01\x00\x03",  # class CH, not IN
    ],
)
def test_what_is_not_one_query_of_class_in_gets_no_answer(packet):
    with pytest.raises(ValueError):
        lab_dns.answer(packet, KNOWN)


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
        known = lab_dns.records(lab)
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
