"""The listener rule and the target group: targets are (instance, dynamic host port) pairs.

A rule on the HTTPS :443 listener (path /*) forwards to an HTTP target group of
target type instance. Its "port 80" is only a default: ECS registers each task
as the instance plus the host port Docker picked (32768, 32769, ...), and the
health check asks for / on that same port ("traffic-port").

Regenerate: python diagrams/target_group.py   (writes target_group.png beside this file)
"""

from pathlib import Path

from _common import BOX, course_diagram
from diagrams.aws.compute import EC2Instance
from diagrams.aws.network import ALB, ELB

from diagrams import Cluster, Edge, Node

HERE = Path(__file__).resolve().parent


def draw(folder: Path = HERE) -> Path:
    with course_diagram("Listener rule and target group", folder, "target_group"):
        https = ALB("listener HTTPS :443")
        rule = Node("rule: path /*\n→ forward", **BOX)
        tg = ELB("target group\nHTTP (port 80: default only)\ntarget type instance\nhealth check / on traffic-port")
        with Cluster("registered targets: one instance, two host ports"):
            first = EC2Instance("instance :32768")
            second = EC2Instance("instance :32769")
        https >> rule >> tg
        tg >> Edge(label=":32768") >> first
        tg >> Edge(label=":32769") >> second
    return Path(folder) / "target_group.png"


if __name__ == "__main__":
    print(draw())
