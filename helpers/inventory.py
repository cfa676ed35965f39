"""Everything the course created that still exists, found by its tags.

Every course resource carries ``course = ecs-alb`` and ``learner = <name>``
(terraform/providers.tf sets them as default tags; the Auto Scaling group
tags itself and its instances). The teardown notebook uses ``leftovers()``
to prove that nothing is left.
"""
from __future__ import annotations

from . import aws

COURSE_TAG = ("course", "ecs-alb")


def _tagged(tags, learner: str | None) -> bool:
    tags = {t["Key"]: t["Value"] for t in tags or []}
    return tags.get(COURSE_TAG[0]) == COURSE_TAG[1] and (learner is None or tags.get("learner") == learner)


def _ec2(learner):
    ec2 = aws.client("ec2")
    filters = [{"Name": f"tag:{COURSE_TAG[0]}", "Values": [COURSE_TAG[1]]}]
    if learner:
        filters.append({"Name": "tag:learner", "Values": [learner]})
    for kind, call, key, ident in (
        ("VPC", ec2.describe_vpcs, "Vpcs", "VpcId"),
        ("subnet", ec2.describe_subnets, "Subnets", "SubnetId"),
        ("internet gateway", ec2.describe_internet_gateways, "InternetGateways", "InternetGatewayId"),
        ("route table", ec2.describe_route_tables, "RouteTables", "RouteTableId"),
        ("security group", ec2.describe_security_groups, "SecurityGroups", "GroupId"),
        ("launch template", ec2.describe_launch_templates, "LaunchTemplates", "LaunchTemplateName"),
    ):
        for item in call(Filters=filters)[key]:
            yield kind, item[ident]
    for reservation in ec2.describe_instances(Filters=filters)["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] not in ("terminated", "shutting-down"):
                yield "EC2 instance", instance["InstanceId"]


def _elbv2(learner):
    elbv2 = aws.client("elbv2")
    arns = [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]
    arns += [tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]]
    for start in range(0, len(arns), 20):
        for described in elbv2.describe_tags(ResourceArns=arns[start:start + 20])["TagDescriptions"]:
            if _tagged(described["Tags"], learner):
                arn = described["ResourceArn"]
                yield ("load balancer" if ":loadbalancer/" in arn else "target group"), arn.split("/")[-2]


def _ecs(learner):
    ecs = aws.client("ecs")
    arns = ecs.list_clusters()["clusterArns"]
    if arns:
        for cluster in ecs.describe_clusters(clusters=arns, include=["TAGS"])["clusters"]:
            tags = [{"Key": t["key"], "Value": t["value"]} for t in cluster.get("tags", [])]
            if cluster["status"] == "ACTIVE" and _tagged(tags, learner):
                yield "ECS cluster", cluster["clusterName"]
    for arn in ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]:
        tags = ecs.list_tags_for_resource(resourceArn=arn).get("tags", [])
        if _tagged([{"Key": t["key"], "Value": t["value"]} for t in tags], learner):
            yield "ECS task definition", arn.split("/")[-1]


def _autoscaling(learner):
    for group in aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]:
        if _tagged(group.get("Tags"), learner):
            yield "Auto Scaling group", group["AutoScalingGroupName"]


def _acm(learner):
    acm = aws.client("acm")
    for summary in acm.list_certificates()["CertificateSummaryList"]:
        arn = summary["CertificateArn"]
        if _tagged(acm.list_tags_for_certificate(CertificateArn=arn).get("Tags"), learner):
            yield "ACM certificate", summary["DomainName"]


def _route53(learner):
    route53 = aws.client("route53")
    for zone in route53.list_hosted_zones()["HostedZones"]:
        zone_id = zone["Id"].split("/")[-1]
        tags = route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"]["Tags"]
        if _tagged(tags, learner):
            yield "Route 53 zone", zone["Name"]


def _iam(learner):
    iam = aws.client("iam")
    for role in iam.list_roles()["Roles"]:
        if _tagged(iam.list_role_tags(RoleName=role["RoleName"]).get("Tags"), learner):
            yield "IAM role", role["RoleName"]


def _logs(learner):
    logs = aws.client("logs")
    for group in logs.describe_log_groups(logGroupNamePrefix="/ecs/ecs-alb-")["logGroups"]:
        tags = logs.list_tags_for_resource(resourceArn=group["arn"].removesuffix(":*")).get("tags", {})
        if _tagged([{"Key": k, "Value": v} for k, v in tags.items()], learner):
            yield "log group", group["logGroupName"]


SOURCES = (_ec2, _elbv2, _ecs, _autoscaling, _acm, _route53, _iam, _logs)


def leftovers(learner: str | None = None) -> list[str]:
    """"kind: name" of every resource tagged by the course (for ``learner``, or anyone's)."""
    return sorted(f"{kind}: {name}" for source in SOURCES for kind, name in source(learner))
