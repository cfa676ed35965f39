"""ECS on EC2: bridge mode with hostPort 0, instances that join the cluster, the service."""

from __future__ import annotations

import base64

from ... import course
from ...runtime import aws
from ..feedback import Feedback, NotYet, run_check, state_resource


def diagnose_ecs(
    task_definition: dict, service: dict, user_data: str, cluster_name: str, target_group_arn: str
) -> list[str]:
    problems = []
    mode = task_definition.get("networkMode")
    if mode != "bridge":
        problems.append(
            f"the task definition's network mode is {mode}: the course runs tasks in Docker's bridge "
            "mode: containers get private addresses on a bridge inside the instance, and the load balancer "
            "reaches each task through the host port Docker published for it on the instance's address."
        )
    nginx = next((c for c in task_definition.get("containerDefinitions", []) if c["name"] == "nginx"), None)
    if nginx is None:
        problems.append("the task definition has no container named nginx.")
    else:
        mappings = nginx.get("portMappings", [])
        if not mappings:
            problems.append("nginx publishes no port: the ALB could not reach it.")
        for m in mappings:
            if m.get("containerPort") != 80:
                problems.append(
                    f"nginx's containerPort is {m.get('containerPort')}: nginx listens on 80 inside its container."
                )
            if m.get("hostPort", 0) != 0:
                problems.append(
                    f"the task definition's hostPort is {m.get('hostPort')}, not 0: a fixed host port "
                    "fits one task per instance (the second cannot be placed: 'already using a port'). "
                    "With hostPort 0 each task gets its own dynamic host port."
                )
    if f"ECS_CLUSTER={cluster_name}" not in user_data:
        problems.append(
            f"the launch template's user data does not set ECS_CLUSTER={cluster_name}: the instance "
            "joins the cluster named 'default', and the service's tasks stay PENDING forever."
        )
    balancers = service.get("loadBalancers", [])
    if not balancers:
        problems.append(
            "the service has no load_balancer block: ECS would register no targets, and the ALB answers 503."
        )
    for b in balancers:
        if b.get("targetGroupArn") != target_group_arn:
            problems.append("the service registers its tasks in another target group, not aws_lb_target_group.web.")
        if b.get("containerName") != "nginx" or b.get("containerPort") != 80:
            problems.append(
                f"the service registers container {b.get('containerName')} port {b.get('containerPort')}: "
                "the ALB must reach nginx, on its container port 80 (ECS maps it to the host port)."
            )
    return problems


def ecs() -> Feedback:
    """Exercise 06: bridge mode, hostPort 0, instances in this cluster, nginx:80 registered in the target group."""

    def gather():
        cluster = state_resource("aws_ecs_cluster.main", "The ECS cluster")["name"]
        task_arn = state_resource("aws_ecs_task_definition.web", "The task definition")["arn"]
        template_id = state_resource("aws_launch_template.ecs", "The launch template")["id"]
        state_resource("aws_ecs_service.web", "The ECS service")
        client = aws.client("ecs")
        template = aws.client("ec2").describe_launch_template_versions(
            LaunchTemplateId=template_id, Versions=["$Latest"]
        )["LaunchTemplateVersions"][0]
        user_data = base64.b64decode(template["LaunchTemplateData"].get("UserData", "")).decode()
        return {
            "task_definition": client.describe_task_definition(taskDefinition=task_arn)["taskDefinition"],
            "service": client.describe_services(cluster=cluster, services=["web"])["services"][0],
            "user_data": user_data,
            "cluster_name": cluster,
            "target_group_arn": state_resource("aws_lb_target_group.web", "The target group")["arn"],
        }

    return run_check(
        "06 ECS on EC2",
        gather,
        diagnose_ecs,
        "bridge mode with hostPort 0, instances that join this cluster, and a service registering "
        "nginx:80 in the target group.",
    )


def register_targets() -> None:
    """What ECS does once the tasks run, done by hand on the emulator (it runs no containers); AWS: wait for ECS."""
    try:
        arn = state_resource("aws_lb_target_group.web", "The target group")["arn"]
        cluster = state_resource("aws_ecs_cluster.main", "The ECS cluster")["name"]
        group = state_resource("aws_autoscaling_group.ecs", "The Auto Scaling group")["name"]
        state_resource("aws_ecs_service.web", "The ECS service")
    except NotYet as missing:
        print(f"Skipped: {missing}")
        return
    service = aws.client("ecs").describe_services(cluster=cluster, services=["web"])["services"][0]
    instances = aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
        "AutoScalingGroups"
    ][0]["Instances"]
    if instances:
        course.register_targets_like_ecs()  # the emulator only; on AWS the ECS service does it
    for t in sorted(course.wait_for_targets(arn, count=service["desiredCount"]), key=lambda t: t["Target"]["Port"]):
        print(f"target {t['Target']['Id']} port {t['Target']['Port']}: {t['TargetHealth']['State']}")
