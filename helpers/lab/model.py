"""What the lab should look like: the emulator's network, read with boto3 into plain frozen data.

    m = model.read()            # VPCs, subnets, security groups, hosts (one per network interface)
    m.fingerprint()             # changes whenever anything the lab builds from changes
    m.topology(), m.host_fingerprint(id)  # the namespaces and links; what one host's filters come from
    m.host("i-0abc…"), m.members("sg-…")

A *host* is one network interface the lab gives a namespace: the primary interface of each
running (or pending) EC2 instance, and one node per subnet of each load balancer, as AWS
places them ("Elastic Load Balancing creates a load balancer node in each Availability Zone
that you enable", https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/how-elastic-load-balancing-works.html).
moto gives load balancers no interfaces, so the lab chooses each node's private address: the
highest usable address of its subnet not taken (AWS keeps the last address of a subnet,
https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html); an internet-facing
ALB's node gets a public address from ``ALB_PUBLIC_RANGE``, stable per load balancer + subnet.

Pure except ``read()`` (the only boto3 call): ``build()`` turns describe answers into a Model.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import asdict, dataclass, replace

from ..errors import CourseError
from ..runtime import aws

# The lab's own "internet" addresses (RFC 5737 documentation blocks: the audit counts them as public).
ALB_PUBLIC_RANGE = ipaddress.ip_network("203.0.113.0/24")
CLIENT_ADDRESS = "198.51.100.10"  # the learner's client in the internet namespace
INSTANCE_STATES = ("pending", "running")  # stopped/terminated instances have no traffic


@dataclass(frozen=True)
class Vpc:
    id: str
    cidr: str


@dataclass(frozen=True)
class Subnet:
    id: str
    vpc_id: str
    cidr: str
    az: str
    map_public_ip_on_launch: bool

    @property
    def gateway(self) -> str:
        """The VPC router's address in this subnet: the network address + 1, as AWS reserves it."""
        return str(ipaddress.ip_network(self.cidr).network_address + 1)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.cidr).prefixlen


@dataclass(frozen=True)
class Permission:
    """One entry of IpPermissions / IpPermissionsEgress, as boto3 returns it (hashable)."""

    protocol: str  # "tcp", "udp", "icmp", "-1", or a protocol number as text
    from_port: int | None
    to_port: int | None
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    prefix_lists: tuple[str, ...] = ()

    @classmethod
    def from_boto(cls, p: dict) -> Permission:
        return cls(
            protocol=str(p.get("IpProtocol", "-1")).lower(),
            from_port=p.get("FromPort"),
            to_port=p.get("ToPort"),
            ipv4=tuple(r["CidrIp"] for r in p.get("IpRanges", [])),
            ipv6=tuple(r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])),
            groups=tuple(r.get("GroupId", "") for r in p.get("UserIdGroupPairs", [])),
            prefix_lists=tuple(r.get("PrefixListId", "") for r in p.get("PrefixListIds", [])),
        )

    def as_boto(self) -> dict:
        """Back to boto3's shape (what helpers.verify.audit evaluates)."""
        p = {
            "IpProtocol": self.protocol,
            "IpRanges": [{"CidrIp": c} for c in self.ipv4],
            "Ipv6Ranges": [{"CidrIpv6": c} for c in self.ipv6],
            "UserIdGroupPairs": [{"GroupId": g} for g in self.groups],
            "PrefixListIds": [{"PrefixListId": p} for p in self.prefix_lists],
        }
        if self.from_port is not None:
            p["FromPort"] = self.from_port
        if self.to_port is not None:
            p["ToPort"] = self.to_port
        return p


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str
    vpc_id: str
    ingress: tuple[Permission, ...] = ()
    egress: tuple[Permission, ...] = ()

    def as_boto(self) -> dict:
        return {
            "GroupId": self.id,
            "GroupName": self.name,
            "VpcId": self.vpc_id,
            "IpPermissions": [p.as_boto() for p in self.ingress],
            "IpPermissionsEgress": [p.as_boto() for p in self.egress],
        }


@dataclass(frozen=True)
class Host:
    """One network interface: an instance's primary one, or an ALB node."""

    id: str  # "i-…" for an instance, "<lb name>-<az>" for an ALB node
    role: str  # "ec2" or "alb"
    vpc_id: str
    subnet_id: str
    private_ip: str
    public_ip: str | None
    group_ids: tuple[str, ...]
    lb_arn: str | None = None  # ALB nodes: their load balancer


@dataclass(frozen=True)
class Model:
    vpcs: tuple[Vpc, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    groups: tuple[SecurityGroup, ...] = ()
    hosts: tuple[Host, ...] = ()

    def fingerprint(self) -> str:
        """A digest of everything the lab is built from: equal fingerprints, nothing to re-sync."""
        return _digest({k: [asdict(x) for x in getattr(self, k)] for k in ("vpcs", "subnets", "groups", "hosts")})

    def topology(self) -> str:
        """A digest of the namespaces, links, addresses and routes (everything but the filters): equal, and
        only hosts whose ``host_fingerprint`` changed need their filters compiled again."""
        hosts = [{**asdict(h), "group_ids": None} for h in self.hosts]
        data = {"vpcs": [asdict(v) for v in self.vpcs], "subnets": [asdict(s) for s in self.subnets], "hosts": hosts}
        return _digest(data)

    def host_fingerprint(self, host_id: str) -> str | None:
        """A digest of what the host's filters are compiled from: the host, its groups, and the members of every
        group their rules name (a reference to a group matches its members' addresses). None: no such host."""
        host = next((h for h in self.hosts if h.id == host_id), None)
        if host is None:
            return None
        groups = self.host_groups(host)
        named = sorted({g for group in groups for p in (*group.ingress, *group.egress) for g in p.groups})
        members = {g: sorted((asdict(m) for m in self.members(g)), key=lambda d: d["id"]) for g in named}
        return _digest({"host": asdict(host), "groups": [asdict(g) for g in groups], "members": members})

    def only(self, vpc_ids) -> Model:
        """The part of the model inside these VPCs (tests build their own VPC in a shared emulator)."""
        keep = set(vpc_ids)
        return Model(
            tuple(v for v in self.vpcs if v.id in keep),
            tuple(s for s in self.subnets if s.vpc_id in keep),
            tuple(g for g in self.groups if g.vpc_id in keep),
            tuple(h for h in self.hosts if h.vpc_id in keep),
        )

    def host(self, host_id: str) -> Host:
        for h in self.hosts:
            if h.id == host_id:
                return h
        raise CourseError(
            f"The lab has no host {host_id!r}.",
            "A lab host is a running EC2 instance (its id, i-…) or a load balancer node (<name>-<zone>).",
            "choose one of: " + (", ".join(h.id for h in self.hosts) or "(none: nothing runs yet)"),
        )

    def subnet(self, subnet_id: str) -> Subnet:
        return next(s for s in self.subnets if s.id == subnet_id)

    def group(self, group_id: str) -> SecurityGroup | None:
        return next((g for g in self.groups if g.id == group_id), None)

    def members(self, group_id: str) -> tuple[Host, ...]:
        """The hosts the group is attached to (what a reference to the group matches)."""
        return tuple(h for h in self.hosts if group_id in h.group_ids)

    def host_groups(self, host: Host) -> tuple[SecurityGroup, ...]:
        return tuple(g for gid in host.group_ids if (g := self.group(gid)) is not None)


def _digest(data) -> str:
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------- building


def build(
    vpcs: list[dict],
    subnets: list[dict],
    groups: list[dict],
    instances: list[dict],
    load_balancers: list[dict],
) -> Model:
    """A Model from describe_* answers (boto3's shapes). Pure."""
    vpc_items = tuple(sorted((Vpc(v["VpcId"], v["CidrBlock"]) for v in vpcs), key=lambda v: v.id))
    subnet_items = tuple(
        sorted(
            (
                Subnet(
                    s["SubnetId"],
                    s["VpcId"],
                    s["CidrBlock"],
                    s.get("AvailabilityZone", ""),
                    bool(s.get("MapPublicIpOnLaunch")),
                )
                for s in subnets
            ),
            key=lambda s: s.id,
        )
    )
    group_items = security_groups(groups)
    known_subnets = {s.id: s for s in subnet_items}
    hosts = [_instance_host(i) for i in instances if i.get("State", {}).get("Name") in INSTANCE_STATES]
    hosts = [h for h in hosts if h is not None and h.subnet_id in known_subnets]
    hosts += _alb_nodes(load_balancers, known_subnets, {h.private_ip for h in hosts})
    return Model(vpc_items, subnet_items, group_items, tuple(sorted(hosts, key=lambda h: (h.role, h.id))))


def security_groups(groups: list[dict]) -> tuple[SecurityGroup, ...]:
    """The groups of a describe_security_groups answer, sorted by id. Pure."""
    return tuple(
        sorted(
            (
                SecurityGroup(
                    g["GroupId"],
                    g.get("GroupName", ""),
                    g.get("VpcId", ""),
                    tuple(Permission.from_boto(p) for p in g.get("IpPermissions", [])),
                    tuple(Permission.from_boto(p) for p in g.get("IpPermissionsEgress", [])),
                )
                for g in groups
            ),
            key=lambda g: g.id,
        )
    )


def _instance_host(instance: dict) -> Host | None:
    interfaces = instance.get("NetworkInterfaces") or []
    primary = next((n for n in interfaces if n.get("Attachment", {}).get("DeviceIndex", 0) == 0), None)
    groups = (primary or instance).get("Groups") or instance.get("SecurityGroups") or []
    if not instance.get("PrivateIpAddress") or not instance.get("SubnetId"):
        return None
    return Host(
        id=instance["InstanceId"],
        role="ec2",
        vpc_id=instance.get("VpcId", ""),
        subnet_id=instance["SubnetId"],
        private_ip=instance["PrivateIpAddress"],
        public_ip=instance.get("PublicIpAddress") or None,
        group_ids=tuple(sorted(g["GroupId"] for g in groups)),
    )


def _alb_nodes(load_balancers: list[dict], subnets: dict[str, Subnet], taken: set[str]) -> list[Host]:
    """One node per subnet of each application load balancer, in a stable order (by name)."""
    nodes, taken, public_taken = [], set(taken), set()
    for lb in sorted(load_balancers, key=lambda lb: (lb["LoadBalancerName"], lb["LoadBalancerArn"])):
        if lb.get("Type", "application") != "application":
            continue
        for zone in sorted(lb.get("AvailabilityZones", []), key=lambda z: z.get("ZoneName", "")):
            subnet = subnets.get(zone.get("SubnetId", ""))
            if subnet is None:
                continue
            private = free_address(subnet.cidr, taken)
            taken.add(private)
            public = None
            if lb.get("Scheme", "internet-facing") == "internet-facing":
                public = public_address(lb["LoadBalancerArn"], subnet.id, public_taken)
                public_taken.add(public)
            nodes.append(
                Host(
                    id=f"{lb['LoadBalancerName']}-{subnet.az or subnet.id}",
                    role="alb",
                    vpc_id=subnet.vpc_id,
                    subnet_id=subnet.id,
                    private_ip=private,
                    public_ip=public,
                    group_ids=tuple(sorted(lb.get("SecurityGroups", []))),
                    lb_arn=lb["LoadBalancerArn"],
                )
            )
    return nodes


def free_address(cidr: str, taken: set[str]) -> str:
    """The highest usable address of the subnet not in ``taken`` (AWS reserves the last one)."""
    net = ipaddress.ip_network(cidr)
    first_usable = int(net.network_address) + 4  # .0 network, .1 router, .2 DNS, .3 reserved
    for value in range(int(net.broadcast_address) - 1, first_usable - 1, -1):
        address = str(ipaddress.ip_address(value))
        if address not in taken:
            return address
    raise CourseError(
        f"Subnet {cidr} has no free address left for a load balancer node.",
        "Every usable address is taken by an instance or another load balancer node.",
        "use a larger subnet (AWS asks for at least a /27 with 8 free addresses for an ALB).",
    )


def public_address(lb_arn: str, subnet_id: str, taken: set[str]) -> str:
    """A stable address of ALB_PUBLIC_RANGE for this load balancer in this subnet."""
    size = ALB_PUBLIC_RANGE.num_addresses - 2
    start = int(hashlib.sha1(f"{lb_arn} {subnet_id}".encode()).hexdigest(), 16) % size
    for step in range(size):
        address = str(ALB_PUBLIC_RANGE.network_address + 1 + (start + step) % size)
        if address not in taken:
            return address
    raise CourseError(
        "The lab ran out of public addresses for load balancer nodes.",
        f"It hands them out of {ALB_PUBLIC_RANGE}, which has {size} addresses.",
        "delete load balancers you no longer use.",
    )


# ---------------------------------------------------------------- reading


def read(ec2=None, elbv2=None) -> Model:
    """The emulator's (or AWS's) current network, described with boto3 (clients made when not given)."""
    ec2, elbv2 = ec2 or aws.client("ec2"), elbv2 or aws.client("elbv2")
    instances = [i for r in _pages(ec2, "describe_instances", "Reservations") for i in r.get("Instances", [])]
    return build(
        _pages(ec2, "describe_vpcs", "Vpcs"),
        _pages(ec2, "describe_subnets", "Subnets"),
        _pages(ec2, "describe_security_groups", "SecurityGroups"),
        instances,
        _pages(elbv2, "describe_load_balancers", "LoadBalancers"),
    )


def with_groups_read(m: Model, ec2=None) -> Model:
    """``m`` with its security groups described again (one call): what a rule's change needs, nothing more."""
    ec2 = ec2 or aws.client("ec2")
    return replace(m, groups=security_groups(_pages(ec2, "describe_security_groups", "SecurityGroups")))


def _pages(client, operation: str, key: str) -> list[dict]:
    return [item for page in client.get_paginator(operation).paginate() for item in page.get(key, [])]
