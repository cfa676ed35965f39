"""The network: subnets in two zones, public addresses, the route to the internet gateway."""

from __future__ import annotations

from ...runtime import aws
from ..feedback import Feedback, run_check, state_resource


def diagnose_network(subnets: list[dict], route_tables: list[dict]) -> list[str]:
    """``subnets``: describe_subnets of the VPC; ``route_tables``: describe_route_tables of the VPC."""
    problems = []
    if len(subnets) != 2:
        problems.append(
            f"the VPC has {len(subnets)} subnet(s): an ALB needs two, in two availability zones "
            "(count = 2 in aws_subnet.public)."
        )
    zones = sorted({s["AvailabilityZone"] for s in subnets})
    if len(subnets) >= 2 and len(zones) < 2:
        problems.append(
            f"both subnets are in {zones[0]}: an ALB refuses to start without subnets in two different "
            "availability zones. Give each subnet its own zone from the data source's list of names, "
            "picked by the subnet's index."
        )
    private = [s["CidrBlock"] for s in subnets if not s.get("MapPublicIpOnLaunch")]
    if private:
        problems.append(
            f"subnet {', '.join(private)} gives instances no public address (map_public_ip_on_launch): "
            "without a NAT gateway they could not reach the ECS API or pull images."
        )
    subnet_ids = {s["SubnetId"] for s in subnets}
    public = [
        t
        for t in route_tables
        if any(
            r.get("DestinationCidrBlock") == "0.0.0.0/0" and str(r.get("GatewayId", "")).startswith("igw-")
            for r in t.get("Routes", [])
        )
    ]
    if not public:
        problems.append(
            "no route table sends 0.0.0.0/0 to the internet gateway: the subnets are not public, so an "
            "internet-facing ALB in them is unreachable. The default route's target is the gateway "
            "declared just above it."
        )
    else:
        associated = {a.get("SubnetId") for t in public for a in t.get("Associations", [])}
        if subnet_ids - associated:
            problems.append(
                f"subnet(s) {', '.join(sorted(subnet_ids - associated))} are not associated with the "
                "public route table: they still use the VPC's main table, with no way out."
            )
    return problems


def network() -> Feedback:
    """Exercise 02: two public subnets in two zones, a default route to the internet gateway."""

    def gather():
        vpc_id = state_resource("aws_vpc.main", "The VPC")["id"]
        ec2 = aws.client("ec2")
        where = [{"Name": "vpc-id", "Values": [vpc_id]}]
        return {
            "subnets": ec2.describe_subnets(Filters=where)["Subnets"],
            "route_tables": ec2.describe_route_tables(Filters=where)["RouteTables"],
        }

    return run_check(
        "02 network", gather, diagnose_network, "two public subnets in two zones, routed to the internet gateway."
    )
