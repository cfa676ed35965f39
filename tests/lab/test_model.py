"""The lab's model: the emulator's network read with boto3 (helpers/lab/model.py)."""

from __future__ import annotations

import ipaddress

import pytest

from helpers.errors import CourseError
from helpers.lab import model
from helpers.runtime import aws
from tests.support import lab_support as lab


def _ours(m: model.Model, vpc: str) -> list[model.Host]:
    return [h for h in m.hosts if h.vpc_id == vpc]


def test_model_reads_vpc_subnets_instances_and_groups(emulator_url):
    with lab.small_vpc() as made:
        web = lab.group(
            made, "web", [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        )
        public = lab.instance(made, "subnet_a", [web])
        private = lab.instance(made, "subnet_b", [web])
        m = model.read()
        assert model.Vpc(made["vpc"], "10.77.0.0/16") in m.vpcs
        a = m.subnet(made["subnet_a"])
        assert (a.cidr, a.az, a.map_public_ip_on_launch, a.gateway) == ("10.77.1.0/24", "us-east-1a", True, "10.77.1.1")
        host = m.host(public["InstanceId"])
        assert (host.role, host.private_ip, host.subnet_id, host.group_ids) == (
            "ec2",
            public["PrivateIpAddress"],
            made["subnet_a"],
            (web,),
        )
        assert host.public_ip == public["PublicIpAddress"]
        assert m.host(private["InstanceId"]).public_ip is None  # subnet b maps no public address
        rule = m.group(web).ingress[0]
        assert (rule.protocol, rule.from_port, rule.to_port, rule.ipv4) == ("tcp", 80, 80, ("0.0.0.0/0",))
        assert m.group(web).egress[0].protocol == "-1"  # AWS's default allow-all egress
        assert [h.id for h in m.members(web)] == sorted([public["InstanceId"], private["InstanceId"]])


def test_alb_has_one_node_per_subnet_on_a_free_stable_address(emulator_url):
    """One node per enabled zone (https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/how-elastic-load-balancing-works.html)."""
    with lab.small_vpc() as made:
        alb_sg = lab.group(made, "alb")
        lb = lab.load_balancer(made, [alb_sg])
        m = model.read()
        nodes = [h for h in _ours(m, made["vpc"]) if h.role == "alb"]
        assert sorted(n.subnet_id for n in nodes) == sorted([made["subnet_a"], made["subnet_b"]])
        for node in nodes:
            assert node.private_ip == str(ipaddress.ip_network(m.subnet(node.subnet_id).cidr).broadcast_address - 1)
            assert ipaddress.ip_address(node.public_ip) in model.ALB_PUBLIC_RANGE
            assert node.group_ids == (alb_sg,) and node.lb_arn == lb["LoadBalancerArn"]
        assert [h for h in model.read().hosts if h.role == "alb" and h.vpc_id == made["vpc"]] == nodes  # stable


def test_internal_alb_nodes_have_no_public_address(emulator_url):
    with lab.small_vpc() as made:
        lab.load_balancer(made, [lab.group(made, "alb")], scheme="internal")
        nodes = [h for h in _ours(model.read(), made["vpc"]) if h.role == "alb"]
        assert nodes and all(n.public_ip is None for n in nodes)


def test_fingerprint_changes_with_rules_and_instances(emulator_url):
    with lab.small_vpc() as made:
        gid = lab.group(made, "g")
        before = model.read().fingerprint()
        assert model.read().fingerprint() == before  # nothing changed, nothing to re-sync
        aws.client("ec2").authorize_security_group_ingress(
            GroupId=gid,
            IpPermissions=[{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
        )
        after_rule = model.read().fingerprint()
        assert after_rule != before
        found = lab.instance(made, "subnet_b", [gid])
        after_instance = model.read().fingerprint()
        assert after_instance != after_rule
        aws.client("ec2").terminate_instances(InstanceIds=[found["InstanceId"]])
        assert found["InstanceId"] not in {h.id for h in model.read().hosts}


def test_free_address_skips_taken_and_reserved():
    assert model.free_address("10.0.1.0/28", set()) == "10.0.1.14"
    assert model.free_address("10.0.1.0/28", {"10.0.1.14"}) == "10.0.1.13"
    with pytest.raises(CourseError, match="no free address"):
        model.free_address("10.0.1.0/29", {"10.0.1.6", "10.0.1.5", "10.0.1.4"})


def test_permission_round_trips_to_boto_shape():
    raw = {
        "IpProtocol": "tcp",
        "FromPort": 32768,
        "ToPort": 65535,
        "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
        "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
        "UserIdGroupPairs": [{"GroupId": "sg-1"}],
        "PrefixListIds": [],
    }
    assert model.Permission.from_boto(raw).as_boto() == raw


def test_unknown_host_names_the_choices():
    with pytest.raises(CourseError, match="choose one of"):
        model.Model().host("i-nothere")


def test_a_rule_change_touches_only_the_hosts_whose_filters_it_compiles_into():
    """Model.host_fingerprint: the host, its groups, the members of the groups their rules name; Model.topology:
    everything but the filters. The supervisor recompiles only the hosts whose fingerprint changed (pure)."""
    web80 = model.Permission("tcp", 80, 80, ipv4=("0.0.0.0/0",))
    alb_sg = model.SecurityGroup("sg-alb", "alb", "vpc-1", ingress=(web80,))
    app_sg = model.SecurityGroup(
        "sg-app", "app", "vpc-1", ingress=(model.Permission("tcp", 0, 65535, groups=("sg-alb",)),)
    )
    other_sg = model.SecurityGroup("sg-other", "other", "vpc-1")
    subnet = model.Subnet("subnet-1", "vpc-1", "10.0.1.0/24", "us-east-1a", True)
    node = model.Host("lb-a", "alb", "vpc-1", "subnet-1", "10.0.1.254", "203.0.113.5", ("sg-alb",), "arn:lb")
    app = model.Host("i-app", "ec2", "vpc-1", "subnet-1", "10.0.1.10", None, ("sg-app",))
    other = model.Host("i-other", "ec2", "vpc-1", "subnet-1", "10.0.1.11", None, ("sg-other",))
    before = model.Model(
        (model.Vpc("vpc-1", "10.0.0.0/16"),), (subnet,), (alb_sg, app_sg, other_sg), (node, app, other)
    )

    def touched(after: model.Model) -> list[str]:
        return [h.id for h in after.hosts if before.host_fingerprint(h.id) != after.host_fingerprint(h.id)]

    opened = model.SecurityGroup("sg-alb", "alb", "vpc-1", ingress=(web80, model.Permission("tcp", 443, 443)))
    after = model.Model(before.vpcs, before.subnets, (opened, app_sg, other_sg), before.hosts)
    assert after.topology() == before.topology() and after.fingerprint() != before.fingerprint()
    assert touched(after) == ["lb-a"], "its member only: the rule naming the group matches the same addresses"
    moved = model.Host("lb-a", "alb", "vpc-1", "subnet-1", "10.0.1.253", "203.0.113.5", ("sg-alb",), "arn:lb")
    after = model.Model(before.vpcs, before.subnets, before.groups, (moved, app, other))
    assert after.topology() != before.topology(), "an address moved: namespaces and links are rebuilt"
    assert touched(after) == ["lb-a", "i-app"], "the member's address is in the rule that names its group"
    regrouped = model.Host("i-other", "ec2", "vpc-1", "subnet-1", "10.0.1.11", None, ("sg-app",))
    after = model.Model(before.vpcs, before.subnets, before.groups, (node, app, regrouped))
    assert after.topology() == before.topology() and touched(after) == ["i-other"], "its groups changed"
    assert before.host_fingerprint("i-gone") is None
