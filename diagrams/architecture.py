"""The whole end state: users reach an ECS service on EC2 only through the ALB.

Internet users resolve app.ecs-alb.example in Route 53 (an alias to the ALB),
connect over HTTPS to the Application Load Balancer in two public subnets, and
the ALB forwards to a target group whose targets are the dynamic host ports of
the ECS tasks (nginx in front of a Node.js API) on one EC2 instance. The API
talks to a remote database outside the VPC.

Regenerate: python diagrams/architecture.py   (writes architecture.png beside this file)
"""

from pathlib import Path

from _common import course_diagram
from diagrams.aws.compute import EC2AutoScaling, ElasticContainerServiceService
from diagrams.aws.database import RDS
from diagrams.aws.general import Users
from diagrams.aws.network import ALB, ELB, InternetGateway, Route53
from diagrams.aws.security import CertificateManager
from diagrams.onprem.network import Nginx
from diagrams.programming.language import Nodejs

from diagrams import Cluster, Edge

HERE = Path(__file__).resolve().parent


def draw(folder: Path = HERE) -> Path:
    with course_diagram("ECS service behind an Application Load Balancer", folder, "architecture"):
        users = Users("internet users")
        dns = Route53("Route 53\napp.ecs-alb.example")
        with Cluster("outside the VPC", graph_attr={"style": "dashed", "bgcolor": "white"}):
            db = RDS("remote database")
        with Cluster("VPC 10.0.0.0/16"):
            igw = InternetGateway("internet gateway")
            with Cluster("public subnets (AZ a, AZ b)"):
                alb = ALB("ALB\n:443 HTTPS\n:80 → 301")
                cert = CertificateManager("ACM certificate")
                tg = ELB("target group\n(instance, host port)")
                with Cluster("ECS cluster on EC2"):
                    asg = EC2AutoScaling("Auto Scaling group\n1 instance")
                    service = ElasticContainerServiceService("ECS service\n2 tasks, bridge")
                    tasks = []
                    with Cluster("EC2 instance (ECS-optimized AL2023, ECS agent)"):
                        for n, port in ((1, 32768), (2, 32769)):
                            with Cluster(f"task {n}"):
                                proxy = Nginx("nginx :80")
                                api = Nodejs("API :3000")
                                proxy >> api
                            tasks.append((proxy, api, port))

        users >> Edge(label="resolve") >> dns
        dns >> Edge(label="alias", style="dashed") >> alb
        users >> Edge(label="HTTPS") >> igw >> alb
        cert >> Edge(style="dashed") >> alb
        alb >> Edge(label="rule /*") >> tg
        for proxy, api, port in tasks:
            tg >> Edge(label=f"host :{port}") >> proxy
            api >> Edge(label="DB port", style="dashed") >> db
        asg >> Edge(label="capacity", style="dotted") >> service
    return Path(folder) / "architecture.png"


if __name__ == "__main__":
    print(draw())
