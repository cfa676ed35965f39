"""The ALB security group: open to the internet on 443 and 80, out only to the VPC's ephemeral ports.

Ingress: TCP 443 and 80 from 0.0.0.0/0 (80 only to redirect to HTTPS).
Egress: TCP 32768-65535 to the VPC CIDR 10.0.0.0/16 only, where the ECS tasks'
dynamic host ports are. Nothing else is open: port 22, for one, is closed.

Regenerate: python diagrams/alb_security_group.py   (writes alb_security_group.png beside this file)
"""

from pathlib import Path

from _common import BAD, course_diagram
from diagrams.aws.general import InternetAlt1
from diagrams.aws.network import ALB, VPC

from diagrams import Cluster, Edge

HERE = Path(__file__).resolve().parent

RED = BAD


def draw(folder: Path = HERE) -> Path:
    with course_diagram("ALB security group", folder, "alb_security_group"):
        internet = InternetAlt1("internet\n0.0.0.0/0")
        with Cluster("ALB security group", graph_attr={"style": "dashed"}):
            alb = ALB("Application\nLoad Balancer")
        vpc = VPC("VPC 10.0.0.0/16\n(task host ports)")
        internet >> Edge(label="in: TCP 443") >> alb
        internet >> Edge(label="in: TCP 80") >> alb
        internet >> Edge(label="22: closed", color=RED, fontcolor=RED, style="dashed", arrowhead="tee") >> alb
        alb >> Edge(label="out: TCP 32768–65535\nto 10.0.0.0/16 only") >> vpc
    return Path(folder) / "alb_security_group.png"


if __name__ == "__main__":
    print(draw())
