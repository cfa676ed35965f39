"""The lab's load balancer in the emulator, for the tests that drive one on loopback (tests/lab/test_alb.py,
tests/lab/test_alb_errors.py): ``Lab`` (a VPC, an ALB, its target groups and its data plane in a thread), the
``lab`` fixture, loopback addresses of their own, and the course's certificate imported into ACM."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import uuid
from typing import Protocol

import pytest

from helpers.lab.alb import config as alb_config
from helpers.lab.alb import health
from helpers.lab.alb import node as alb
from helpers.runtime import aws
from helpers.tf import certificate
from tests.support.waiting import wait_until


class Backend(Protocol):
    """What a target group's member is to the lab: a server on a loopback address and port."""

    address: str
    port: int


TROUBLESHOOTING = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html"
)
_addresses = itertools.count(10)


def next_address() -> str:
    """A loopback address no other test of this module uses (127.0.0.0/8 is all loopback on Linux)."""
    n = next(_addresses)
    return f"127.0.{40 + n // 250}.{n % 250 + 2}"


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- backends


class Lab:
    """A VPC, an ALB and its target groups in the emulator, and its data plane running in a thread."""

    def __init__(self):
        self.ec2, self.elbv2 = aws.client("ec2"), aws.client("elbv2")
        self.name = f"t{uuid.uuid4().hex[:8]}"
        self.vpc = self.ec2.create_vpc(CidrBlock="10.88.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.88.{n}.0/24", AvailabilityZone=f"us-east-1{z}")[
                "Subnet"
            ]["SubnetId"]
            for n, z in ((1, "a"), (2, "b"))
        ]
        self.arn = self.elbv2.create_load_balancer(Name=self.name, Subnets=self.subnets)["LoadBalancers"][0][
            "LoadBalancerArn"
        ]
        self.groups: list[str] = []
        self.address = next_address()
        self.loop = self.balancer = None
        self.connect_timeout = alb_config.CONNECT_TIMEOUT
        self.netns = None

    def group(
        self, *backends: Backend, interval=30, healthy=2, unhealthy=2, matcher="200", path="/health", protocol="HTTP"
    ) -> str:
        arn = self.elbv2.create_target_group(
            Name=f"{self.name}-{len(self.groups)}",
            Protocol=protocol,
            Port=80,
            VpcId=self.vpc,
            TargetType="ip",
            HealthCheckProtocol=protocol,
            HealthCheckPath=path,
            HealthCheckIntervalSeconds=interval,
            HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=healthy,
            UnhealthyThresholdCount=unhealthy,
            Matcher={"HttpCode": matcher},
        )["TargetGroups"][0]["TargetGroupArn"]
        self.groups.append(arn)
        if backends:
            self.elbv2.register_targets(
                TargetGroupArn=arn, Targets=[{"Id": b.address, "Port": b.port} for b in backends]
            )
        return arn

    def listener(self, actions: list[dict], protocol="HTTP", **extra) -> tuple[str, int]:
        port = free_port(self.address)
        arn = self.elbv2.create_listener(
            LoadBalancerArn=self.arn, Port=port, Protocol=protocol, DefaultActions=actions, **extra
        )["Listeners"][0]["ListenerArn"]
        return arn, port

    def forward(self, group: str) -> int:
        return self.listener([{"Type": "forward", "TargetGroupArn": group}])[1]

    def idle_timeout(self, seconds: int) -> None:
        self.elbv2.modify_load_balancer_attributes(
            LoadBalancerArn=self.arn, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": str(seconds)}]
        )

    def start(self, endpoint: str) -> None:
        """The data plane in a thread of its own, with its own event loop."""
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.balancer = alb.Balancer(
            lambda: alb_config.read(self.arn, connect_timeout=self.connect_timeout),
            [self.address],
            publish=lambda group, states: health.publish(endpoint, group, states),
            netns=self.netns,
            log=lambda text: None,
        )
        asyncio.run_coroutine_threadsafe(self.balancer.start(), self.loop).result(
            60
        )  # binding sockets; a loaded machine

    def health(self, group: str) -> dict:
        rows = self.elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
        return {(r["Target"]["Id"], r["Target"]["Port"]): r["TargetHealth"] for r in rows}

    def wait_health(self, group: str, states: set[str], within: float, until=None) -> dict:
        """describe_target_health until every target is in one of ``states`` and ``until(rows)`` (bounded)."""
        return wait_until(
            lambda: self.health(group),
            until=lambda rows: (
                rows and all(h["State"] in states for h in rows.values()) and (until is None or until(rows))
            ),
            within=within,
            what=f"targets {states}",
            every=0.2,
        )

    def close_balancer(self) -> None:
        if self.loop:
            asyncio.run_coroutine_threadsafe(self.balancer.close(), self.loop).result(20)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.loop = None

    def close(self) -> None:
        self.close_balancer()
        self.elbv2.delete_load_balancer(LoadBalancerArn=self.arn)
        for group in self.groups:
            self.elbv2.delete_target_group(TargetGroupArn=group)
        for subnet in self.subnets:
            self.ec2.delete_subnet(SubnetId=subnet)
        self.ec2.delete_vpc(VpcId=self.vpc)


@pytest.fixture
def lab(emulator_url):
    made = Lab()
    try:
        yield made
    finally:
        made.close()


DOMAIN = certificate.DOMAIN


@pytest.fixture
def imported_certificate(emulator_url):
    """The course's own pair (workspace certs/, signed by the course's CA), imported into ACM as terraform/ does."""
    cert_path, key_path = certificate.issue()
    acm = aws.client("acm")
    arn = acm.import_certificate(Certificate=cert_path.read_bytes(), PrivateKey=key_path.read_bytes())["CertificateArn"]
    yield arn
    acm.delete_certificate(CertificateArn=arn)
