"""What the lab tests share: the root/nft requirement (skip, or fail under CI) and a small VPC built with boto3."""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager

import pytest

from helpers.runtime import aws

NGINX_CONF = "server {\n  listen 80;\n  location / {\n    proxy_pass http://api:3000;\n  }\n}\n"
API_JS = (
    "require('http').createServer((q, s) => { s.setHeader('content-type', 'application/json'); "
    "s.end(JSON.stringify({ ok: true, path: q.url })) }).listen(3000)"
)
# The course's task definition (terraform/ecs.tf), as ECS hands it to the agent.
WEB_CONTAINERS = [
    {
        "name": "nginx",
        "image": "public.ecr.aws/nginx/nginx:1.30-alpine",
        "essential": True,
        "memory": 64,
        "links": ["api"],
        "entryPoint": ["sh", "-c"],
        "command": ["printf '%s' \"$NGINX_CONF\" > /etc/nginx/conf.d/default.conf && exec nginx -g 'daemon off;'"],
        "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
        "environment": [{"name": "NGINX_CONF", "value": NGINX_CONF}],
    },
    {
        "name": "api",
        "image": "public.ecr.aws/docker/library/node:26-alpine",
        "essential": True,
        "memory": 128,
        "command": ["node", "-e", API_JS],
    },
]


def kernel_missing() -> str | None:
    """What the lab's kernel tests lack here (root, nft, ip), or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the lab's kernel tests need root (network namespaces and nftables)"
    if not shutil.which("nft"):
        return "nft is missing: install it with `apt-get install nftables`"
    if not shutil.which("ip"):
        return "ip (iproute2) is missing: install it with `apt-get install iproute2`"
    return None


def require_kernel() -> None:
    """Skip (fail when CI is set: `make test` installs nftables as root) unless root with nft and ip."""
    missing = kernel_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} (`make test` installs nftables when run as root with apt)", pytrace=False)
        pytest.skip(missing)


def test_tag() -> str:
    """A <ws> of the tests' own (never a learner's lab's): 6 hex characters."""
    return "t" + uuid.uuid4().hex[:5]


@contextmanager
def small_vpc(cidr: str = "10.77.0.0/16", public: bool = True):
    """A VPC with two subnets (one mapping public IPs), a group, cleaned up afterwards. Yields a dict of ids."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    base = cidr.split(".")
    made = {"vpc": vpc, "instances": [], "groups": [], "lbs": []}
    try:
        made["subnet_a"] = ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"{base[0]}.{base[1]}.1.0/24", AvailabilityZone="us-east-1a"
        )["Subnet"]["SubnetId"]
        made["subnet_b"] = ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"{base[0]}.{base[1]}.2.0/24", AvailabilityZone="us-east-1b"
        )["Subnet"]["SubnetId"]
        if public:
            ec2.modify_subnet_attribute(SubnetId=made["subnet_a"], MapPublicIpOnLaunch={"Value": True})
        made["ami"] = ec2.describe_images()["Images"][0]["ImageId"]
        yield made
    finally:
        elbv2 = aws.client("elbv2")
        for arn in made["lbs"]:
            elbv2.delete_load_balancer(LoadBalancerArn=arn)
        for iid in made["instances"]:
            try:
                ec2.terminate_instances(InstanceIds=[iid])
            except Exception:  # already terminated by the test (moto then no longer knows its interface)
                pass
        for gid in made["groups"]:
            try:
                ec2.delete_security_group(GroupId=gid)
            except Exception:  # referenced by another group of the test: the VPC goes anyway in moto
                pass


def group(made: dict, name: str, ingress: list[dict] | None = None, egress: list[dict] | None = None) -> str:
    """A security group in the VPC with exactly these rules (the default allow-all egress replaced when given)."""
    ec2 = aws.client("ec2")
    gid = ec2.create_security_group(GroupName=f"{name}-{uuid.uuid4().hex[:6]}", Description=name, VpcId=made["vpc"])[
        "GroupId"
    ]
    made["groups"].append(gid)
    if ingress:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=ingress)
    if egress is not None:
        ec2.revoke_security_group_egress(
            GroupId=gid, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        )
        if egress:
            ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=egress)
    return gid


def instance(made: dict, subnet: str, groups: list[str]) -> dict:
    ec2 = aws.client("ec2")
    found = ec2.run_instances(
        ImageId=made["ami"], MinCount=1, MaxCount=1, SubnetId=made[subnet], SecurityGroupIds=groups
    )["Instances"][0]
    made["instances"].append(found["InstanceId"])
    return found


def load_balancer(made: dict, groups: list[str], scheme: str = "internet-facing") -> dict:
    lb = aws.client("elbv2").create_load_balancer(
        Name=f"lab-{uuid.uuid4().hex[:8]}",
        Subnets=[made["subnet_a"], made["subnet_b"]],
        SecurityGroups=groups,
        Scheme=scheme,
    )["LoadBalancers"][0]
    made["lbs"].append(lb["LoadBalancerArn"])
    return lb
