"""ECS on EC2: an Auto Scaling group supplies the instance, the service runs two bridge-mode tasks.

A launch template (ECS-optimized Amazon Linux 2023 AMI, user data setting
ECS_CLUSTER, an instance profile) feeds an Auto Scaling group of one instance;
its ECS agent joins the cluster. The service runs two tasks in bridge network
mode: nginx listens on containerPort 80 with hostPort 0, so Docker picks a host
port from 32768-65535, and proxies to the Node.js API on port 3000. ECS
registers each (instance, host port) in the target group. The API talks to a
remote database outside the VPC.

Regenerate: python diagrams/ecs_on_ec2.py   (writes ecs_on_ec2.png beside this file)
"""

from pathlib import Path

from _common import course_diagram
from diagrams.aws.compute import EC2Ami, EC2AutoScaling, EC2Instance, ElasticContainerServiceService
from diagrams.aws.database import RDS
from diagrams.aws.network import ELB
from diagrams.aws.security import IAMRole
from diagrams.onprem.network import Nginx
from diagrams.programming.language import Nodejs

from diagrams import Cluster, Edge

HERE = Path(__file__).resolve().parent


def draw(folder: Path = HERE) -> Path:
    with course_diagram("ECS on EC2: dynamic host ports", folder, "ecs_on_ec2"):
        tg = ELB("target group")
        with Cluster("ECS cluster"):
            service = ElasticContainerServiceService("ECS service\n2 tasks, bridge mode")
            with Cluster("EC2 instance"):
                tasks = []
                for n, port in ((1, 32768), (2, 32769)):
                    with Cluster(f"task {n}"):
                        proxy = Nginx("nginx :80\nhostPort 0")
                        api = Nodejs("Node.js API :3000")
                        proxy >> api
                    tasks.append((proxy, api, port))
                agent = EC2Instance("ECS agent\n(joins via ECS_CLUSTER)")
        with Cluster("EC2 capacity"):
            template = EC2Ami("launch template\nECS-optimized AL2023 AMI\nuser data: ECS_CLUSTER")
            role = IAMRole("instance role\n+ profile")
            asg = EC2AutoScaling("Auto Scaling group\n1 instance")
        with Cluster("outside the VPC", graph_attr={"style": "dashed", "bgcolor": "white"}):
            db = RDS("remote database")

        role >> Edge(style="dotted") >> template
        template >> asg >> Edge(label="launches") >> agent
        service >> Edge(label="places tasks", style="dotted") >> agent
        service >> Edge(label="registers\n(instance, host port)", style="dotted", constraint="false") >> tg
        for proxy, api, port in tasks:
            tg >> Edge(label=f"host :{port} → 80") >> proxy
            api >> Edge(label="DB port", style="dashed") >> db
    return Path(folder) / "ecs_on_ec2.png"


if __name__ == "__main__":
    print(draw())
