"""The classic 503: the instance security group allows only port 80, the targets are on 32768+.

The instance security group lets in TCP 80 from the ALB security group, but
ECS registered the two tasks of the one instance on dynamic host ports (32768,
32769). The ALB's health checks to those ports are dropped, the targets turn
unhealthy; with every registered target unhealthy the ALB fails open and its
requests time out (504). ECS keeps replacing the tasks; when no target is
registered, the ALB answers 503. Not a sequence: whichever holds at the moment.

Regenerate: python diagrams/port80_503.py   (writes port80_503.png beside this file)
"""

from pathlib import Path

from _common import BAD, course_diagram
from diagrams.aws.compute import EC2, ElasticContainerServiceContainer, ElasticContainerServiceService
from diagrams.aws.general import Users
from diagrams.aws.network import ALB, ELB

from diagrams import Cluster, Edge

HERE = Path(__file__).resolve().parent

RED = BAD


def draw(folder: Path = HERE) -> Path:
    with course_diagram(
        "Broken: instance SG allows only port 80 → 504; 503 when no target is registered", folder, "port80_503"
    ):
        users = Users("users")
        alb = ALB("ALB")
        tg = ELB("target group\nno healthy target: fails open")
        with Cluster(
            "instance SG: allows 80 only (from ALB SG)",
            graph_attr={"style": "dashed", "pencolor": RED, "fontcolor": RED},
        ):
            with Cluster("one EC2 instance"):
                first = ElasticContainerServiceContainer("task 1\nhost port 32768")
                second = ElasticContainerServiceContainer("task 2\nhost port 32769")
                EC2("ECS agent")
        service = ElasticContainerServiceService("ECS service\nkeeps replacing tasks")

        users >> Edge(label="HTTPS") >> alb
        (
            users
            << Edge(
                label="504 while the targets are unhealthy\n503 when none is registered",
                color=RED,
                fontcolor=RED,
                penwidth="2",
            )
            << alb
        )
        alb >> Edge(label="forward") >> tg
        blocked = {
            "label": "health check blocked",
            "color": RED,
            "fontcolor": RED,
            "style": "dashed",
            "arrowhead": "tee",
        }
        tg >> Edge(**blocked) >> first
        tg >> Edge(**blocked) >> second
        first >> Edge(label="unhealthy", style="dotted") >> service
        second >> Edge(style="dotted") >> service
    return Path(folder) / "port80_503.png"


if __name__ == "__main__":
    print(draw())
