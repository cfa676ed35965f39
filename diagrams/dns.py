"""DNS: an alias A record in the Route 53 hosted zone points the course domain at the ALB.

Users look up app.ecs-alb.example in the hosted zone ecs-alb.example. The
record is an alias A record: it has no TTL of its own and resolves to the
ALB's DNS name, so it follows the ALB's changing addresses. Users then
connect to the ALB over HTTPS.

Regenerate: python diagrams/dns.py   (writes dns.png beside this file)
"""

from pathlib import Path

from _common import course_diagram
from diagrams.aws.general import Users
from diagrams.aws.network import ALB, Route53

from diagrams import Cluster, Edge

HERE = Path(__file__).resolve().parent


def draw(folder: Path = HERE) -> Path:
    with course_diagram("DNS: alias record to the ALB", folder, "dns"):
        users = Users("users")
        with Cluster("Route 53 hosted zone ecs-alb.example"):
            record = Route53("alias A record\napp.ecs-alb.example\n(no TTL)")
        alb = ALB("ALB\n(its DNS name)")

        users >> Edge(label="1. look up\napp.ecs-alb.example") >> record
        record >> Edge(label="alias to the\nALB DNS name", style="dashed") >> alb
        users >> Edge(label="2. HTTPS :443") >> alb
    return Path(folder) / "dns.png"


if __name__ == "__main__":
    print(draw())
