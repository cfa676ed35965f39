"""Draw what is deployed right now, in the style of diagrams/architecture.png.

    from helpers import live_diagram
    live = live_diagram.describe_live()          # what is deployed, read with boto3
    png = live_diagram.draw_live(live, folder)   # folder/live_architecture.png (+ .svg)

``live`` is a plain dict, filled from boto3 describe calls by ``describe_live()``::

    {
     "domain": "app.ecs-alb.example" or None,
     "load_balancer": {"name": str, "scheme": "internet-facing", "subnets": int},
     "listeners": [{"port": 443, "protocol": "HTTPS", "action": "forward"}, ...],
     "alb_ingress": ["tcp port 443 from 0.0.0.0/0", ...],
     "target_group": {"name": str, "protocol": "HTTP", "health_check": "/ on traffic-port"},
     "targets": [{"instance": "instance 1", "port": 32768, "health": "healthy"}, ...],
     "instance_ingress": ["tcp ports 32768-65535 from the ALB security group"],
     "cluster": str, "service": str, "tasks_desired": int,
    }

Every label comes from the dict (plus fixed words such as "listener"), so the
caller decides what is shown: pass anonymised instance labels, never AWS ids.
The picture is the same for the same dict (no timestamps, no ids).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..course import stack
from ..runtime import aws
from ..runtime.graphviz import require_dot
from . import diagram_style, sg_rules
from .rules import GROUP, parse_group

FILE_STEM = "live_architecture"

GREEN, RED, GREY = diagram_style.OK, diagram_style.BAD, diagram_style.MUTED

_BOX = diagram_style.BOX


def _health_colour(health: str) -> str:
    if health == "healthy":
        return GREEN
    if health in ("unhealthy", "unavailable"):
        return RED
    return GREY  # initial, draining, unused, ...


def _rules(title: str, lines: list[str]) -> str:
    return "\n".join([title, *lines]) if lines else f"{title}\n(no ingress rules)"


def draw_live(live: dict, folder: Path) -> Path:
    """Draw ``live`` into ``folder/live_architecture.png`` (and .svg); return the PNG path."""
    require_dot()  # without Graphviz: the install lines, not the diagrams package's traceback
    from diagrams.aws.compute import (
        EC2Instance,
        ElasticContainerServiceService,
    )  # diagrams: only when a picture is drawn
    from diagrams.aws.general import Users  # diagrams: only when a picture is drawn
    from diagrams.aws.network import ALB, ELB, Route53  # diagrams and Graphviz: only when a picture is drawn

    from diagrams import Cluster, Diagram, Edge, Node  # diagrams: only when a picture is drawn

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / FILE_STEM

    lb = live.get("load_balancer") or {}
    tg_info = live.get("target_group") or {}
    listeners = live.get("listeners") or []
    targets = live.get("targets") or []
    domain = live.get("domain")

    with Diagram(
        "Deployed now",
        filename=str(out),
        outformat=["png", "svg"],
        show=False,
        direction="LR",
        graph_attr=diagram_style.GRAPH,
    ):
        users = Users("internet users")
        record = Route53(f"Route 53\n{domain}") if domain else None

        alb_title = f"ALB {lb.get('name', '?')}\n{lb.get('scheme', '?')}, {lb.get('subnets', '?')} subnets"
        with Cluster(_rules("ALB security group", live.get("alb_ingress") or []), graph_attr={"style": "dashed"}):
            with Cluster(alb_title):
                listener_nodes = []
                for listener in listeners:
                    node = ALB(
                        f"{listener.get('protocol', '?')} :{listener.get('port', '?')}\n{listener.get('action', '?')}"
                    )
                    listener_nodes.append((listener, node))

        tg = ELB(
            f"target group\n{tg_info.get('name', '?')}\n{tg_info.get('protocol', '?')}, "
            f"health check\n{tg_info.get('health_check', '?')}"
        )

        with Cluster(f"ECS cluster {live.get('cluster', '?')}"):
            service = ElasticContainerServiceService(
                f"service {live.get('service', '?')}\n{live.get('tasks_desired', '?')} tasks desired"
            )
            with Cluster(
                _rules("instance security group", live.get("instance_ingress") or []), graph_attr={"style": "dashed"}
            ):
                target_nodes = []
                for target in targets:
                    health = str(target.get("health", "?"))
                    node = EC2Instance(f"{target.get('instance', '?')} :{target.get('port', '?')}\n{health}")
                    target_nodes.append((target, health, node))
                if not target_nodes:
                    empty = Node("no registered targets", **_BOX, color=RED, fontcolor=RED)

        # Who reaches what.
        if record is not None:
            users >> Edge(label="resolve") >> record
        https = [node for listener, node in listener_nodes if listener.get("protocol") == "HTTPS"]
        entry = (https or [node for _, node in listener_nodes] or [None])[0]
        if record is not None and entry is not None:
            record >> Edge(label="alias", style="dashed") >> entry
        forwards = False
        for listener, node in listener_nodes:
            users >> node
            action = listener.get("action")
            if action == "forward":
                forwards = True
                node >> Edge(label="forward") >> tg
            elif action == "redirect" and https and node not in https:
                node >> Edge(label="redirect", style="dashed") >> https[0]
            elif action == "fixed-response":
                node >> Edge(style="dashed") >> Node("fixed response", **_BOX, color=GREY, fontcolor=GREY)
        if not forwards:
            # Nothing forwards yet: keep the target group to the right of the ALB all the same.
            (entry or users) >> Edge(style="invis") >> tg
        for target, health, node in target_nodes:
            colour = _health_colour(health)
            tg >> Edge(label=f":{target.get('port', '?')}", color=colour, fontcolor=colour) >> node
        if not target_nodes:
            tg >> Edge(color=RED, style="dashed") >> empty
        # Keeps the service beside the targets, inside its cluster.
        tg >> Edge(style="invis") >> service

    return out.with_suffix(".png")


def describe_live() -> dict:
    """What is deployed now, read with boto3, in the shape ``live_diagram.draw_live`` takes.

    Instance IDs are replaced by "instance 1", "instance 2"... so the picture
    is the same on every run.
    """
    ec2, elbv2, ecs, route53 = (aws.client(name) for name in ("ec2", "elbv2", "ecs", "route53"))
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[stack.resource("aws_lb.main")["arn"]])["LoadBalancers"][0]
    listeners = []
    for listener in sorted(
        elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"], key=lambda lst: -lst["Port"]
    ):
        rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        actions = [a["Type"] for r in rules for a in r["Actions"] if not r["IsDefault"]]
        listeners.append(
            {
                "port": listener["Port"],
                "protocol": listener["Protocol"],
                "action": actions[0] if actions else listener["DefaultActions"][0]["Type"],
            }
        )
    groups = {
        g["GroupId"]: g
        for g in ec2.describe_security_groups(
            GroupIds=[
                stack.resource("aws_security_group.alb")["id"],
                stack.resource("aws_security_group.instances")["id"],
            ]
        )["SecurityGroups"]
    }
    alb_group = groups[stack.resource("aws_security_group.alb")["id"]]
    instance_group = groups[stack.resource("aws_security_group.instances")["id"]]
    instance_ingress = sorted(  # the ALB's group by its role: the picture shows no AWS ids
        replace(rule, peer="the ALB security group").text()
        for rule in parse_group(instance_group)
        if rule.peer_kind == GROUP and rule.peer == alb_group["GroupId"]
    )
    instance_ingress += sg_rules.cidr_ingress(instance_group)
    tg = elbv2.describe_target_groups(TargetGroupArns=[stack.resource("aws_lb_target_group.web")["arn"]])[
        "TargetGroups"
    ][0]
    health = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    labels = {}
    for t in sorted(health, key=lambda t: (t["Target"]["Id"], t["Target"]["Port"])):
        labels.setdefault(t["Target"]["Id"], f"instance {len(labels) + 1}")
    service = ecs.describe_services(cluster=stack.resource("aws_ecs_cluster.main")["name"], services=["web"])[
        "services"
    ][0]
    domain = None
    record = stack.state_resources().get("aws_route53_record.app")
    if record:  # the name as Route 53 holds it, found by the record Terraform made
        wanted = record["fqdn"].rstrip(".")
        names = [
            r["Name"].rstrip(".")
            for r in route53.list_resource_record_sets(HostedZoneId=record["zone_id"])["ResourceRecordSets"]
            if r["Type"] == "A" and r.get("AliasTarget") and r["Name"].rstrip(".") == wanted
        ]
        domain = names[0] if names else None
    return {
        "domain": domain,
        "load_balancer": {
            "name": lb["LoadBalancerName"],
            "scheme": lb["Scheme"],
            "subnets": len(lb["AvailabilityZones"]),
        },
        "listeners": listeners,
        "alb_ingress": sg_rules.cidr_ingress(alb_group),
        "target_group": {
            "name": tg["TargetGroupName"],
            "protocol": tg["Protocol"],
            "health_check": f"{tg['HealthCheckPath']} on {tg['HealthCheckPort']}",
        },
        "targets": [
            {"instance": labels[t["Target"]["Id"]], "port": t["Target"]["Port"], "health": t["TargetHealth"]["State"]}
            for t in sorted(health, key=lambda t: (t["Target"]["Id"], t["Target"]["Port"]))
        ],
        "instance_ingress": instance_ingress,
        "cluster": service["clusterArn"].split("/")[-1],
        "service": service["serviceName"],
        "tasks_desired": service["desiredCount"],
    }
