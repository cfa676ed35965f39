"""The network: one VPC, two public subnets in two AZs, one route to the internet gateway.

A single public route table sends 0.0.0.0/0 to the internet gateway and is
associated with both subnets, so both are public. The ALB needs subnets in
at least two Availability Zones.

Regenerate: python diagrams/network.py   (writes network.png beside this file)
"""

from pathlib import Path

from _common import course_diagram
from diagrams.aws.general import InternetAlt1
from diagrams.aws.network import InternetGateway, PublicSubnet, RouteTable

from diagrams import Cluster, Edge

HERE = Path(__file__).resolve().parent


def draw(folder: Path = HERE) -> Path:
    with course_diagram("VPC with two public subnets", folder, "network"):
        internet = InternetAlt1("internet")
        with Cluster("VPC 10.0.0.0/16"):
            igw = InternetGateway("internet gateway")
            table = RouteTable("public route table")
            # Declared (and linked below) in this order so that AZ a ends up on top.
            with Cluster("AZ b"):
                subnet_b = PublicSubnet("public subnet\n10.0.2.0/24")
            with Cluster("AZ a"):
                subnet_a = PublicSubnet("public subnet\n10.0.1.0/24")
        internet - igw
        igw << Edge(label="0.0.0.0/0 → IGW") << table
        table >> Edge(label="associated") >> subnet_b
        table >> Edge(label="associated") >> subnet_a
    return Path(folder) / "network.png"


if __name__ == "__main__":
    print(draw())
