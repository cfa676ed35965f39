"""The fix: instances accept traffic only from the ALB's security group, on the dynamic port range.

The instance security group allows TCP 32768-65535 with the ALB security group
as its source (a security-group reference, no CIDR). As the stack runs it
(var.instance_count = 1, the service's desired_count = var.task_count = 2), one instance holds
both tasks, each on its own dynamic host port. The ALB reaches both targets and
its health checks pass; nothing on the internet can reach the instance
directly, because no rule names a CIDR.

Regenerate: python diagrams/instance_lockdown.py   (writes instance_lockdown.png beside this file)
"""

from pathlib import Path

from _common import BAD, OK, course_diagram
from diagrams.aws.compute import EC2, ElasticContainerServiceContainer
from diagrams.aws.general import InternetAlt1
from diagrams.aws.network import ALB

from diagrams import Cluster, Edge

HERE = Path(__file__).resolve().parent

RED = BAD
GREEN = OK


def draw(folder: Path = HERE) -> Path:
    with course_diagram("Fixed: instances reachable only from the ALB", folder, "instance_lockdown"):
        internet = InternetAlt1("internet")
        with Cluster("ALB security group", graph_attr={"style": "dashed"}):
            alb = ALB("ALB")
        with Cluster(
            "instance SG: TCP 32768–65535\nsource = ALB security group",
            graph_attr={"style": "dashed", "pencolor": GREEN},
        ):
            with Cluster("one EC2 instance"):
                first = ElasticContainerServiceContainer("task 1\nhost port 32768")
                second = ElasticContainerServiceContainer("task 2\nhost port 32769")
                instance = EC2("instance's\npublic address")

        internet >> Edge(label="HTTPS 443") >> alb
        alb >> Edge(label="health check ok", color=GREEN, fontcolor=GREEN, penwidth="2") >> first
        alb >> Edge(label="health check ok", color=GREEN, fontcolor=GREEN, penwidth="2") >> second
        (
            internet
            >> Edge(label="blocked: no CIDR rule", color=RED, fontcolor=RED, style="dashed", arrowhead="tee")
            >> instance
        )
    return Path(folder) / "instance_lockdown.png"


if __name__ == "__main__":
    print(draw())
