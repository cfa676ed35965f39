"""Everything the course created that still exists, found by its tags.

Every course resource carries ``course = ecs-alb`` and ``learner = <name>``
(terraform/providers.tf sets them as default tags; the Auto Scaling group
tags itself and its instances). The teardown notebook uses ``leftovers()``
to prove that nothing is left; ``python -m helpers leftovers`` prints the
same list for the current target. Every listing call is paginated, so a real
account with many roles or zones is searched completely.
"""

from __future__ import annotations

from ..errors import CourseError
from ..runtime import aws, emulator
from .tags import COURSE_TAG, tagged


def _all(client, operation: str, key: str, **kwargs) -> list:
    """Every item of a listing call, across pages."""
    if client.can_paginate(operation):
        return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])]
    return getattr(client, operation)(**kwargs).get(key, [])


def _ec2(learner):
    ec2 = aws.client("ec2")
    filters = [{"Name": f"tag:{COURSE_TAG[0]}", "Values": [COURSE_TAG[1]]}]
    if learner:
        filters.append({"Name": "tag:learner", "Values": [learner]})
    for kind, operation, key, ident in (
        ("VPC", "describe_vpcs", "Vpcs", "VpcId"),
        ("subnet", "describe_subnets", "Subnets", "SubnetId"),
        ("internet gateway", "describe_internet_gateways", "InternetGateways", "InternetGatewayId"),
        ("route table", "describe_route_tables", "RouteTables", "RouteTableId"),
        ("security group", "describe_security_groups", "SecurityGroups", "GroupId"),
        ("launch template", "describe_launch_templates", "LaunchTemplates", "LaunchTemplateName"),
    ):
        for item in _all(ec2, operation, key, Filters=filters):
            yield kind, item[ident]
    for reservation in _all(ec2, "describe_instances", "Reservations", Filters=filters):
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] not in ("terminated", "shutting-down"):
                yield "EC2 instance", instance["InstanceId"]


def _elbv2(learner):
    elbv2 = aws.client("elbv2")
    arns = [lb["LoadBalancerArn"] for lb in _all(elbv2, "describe_load_balancers", "LoadBalancers")]
    arns += [tg["TargetGroupArn"] for tg in _all(elbv2, "describe_target_groups", "TargetGroups")]
    for start in range(0, len(arns), 20):
        for described in elbv2.describe_tags(ResourceArns=arns[start : start + 20])["TagDescriptions"]:
            if tagged(described["Tags"], learner):
                arn = described["ResourceArn"]
                yield ("load balancer" if ":loadbalancer/" in arn else "target group"), arn.split("/")[-2]


def _ecs(learner):
    ecs = aws.client("ecs")
    arns = _all(ecs, "list_clusters", "clusterArns")
    for start in range(0, len(arns), 100):
        for cluster in ecs.describe_clusters(clusters=arns[start : start + 100], include=["TAGS"])["clusters"]:
            if cluster["status"] != "ACTIVE":
                continue
            if tagged(cluster.get("tags"), learner):
                yield "ECS cluster", cluster["clusterName"]
            services = _all(ecs, "list_services", "serviceArns", cluster=cluster["clusterArn"])
            for first in range(0, len(services), 10):
                for service in ecs.describe_services(
                    cluster=cluster["clusterArn"], services=services[first : first + 10], include=["TAGS"]
                )["services"]:
                    if service["status"] != "INACTIVE" and tagged(service.get("tags"), learner):
                        yield "ECS service", f"{cluster['clusterName']}/{service['serviceName']}"
    for arn in _all(ecs, "list_task_definitions", "taskDefinitionArns", status="ACTIVE"):
        tags = ecs.list_tags_for_resource(resourceArn=arn).get("tags", [])
        if tagged(tags, learner):
            yield "ECS task definition", arn.split("/")[-1]


def _autoscaling(learner):
    for group in _all(aws.client("autoscaling"), "describe_auto_scaling_groups", "AutoScalingGroups"):
        if tagged(group.get("Tags"), learner):
            yield "Auto Scaling group", group["AutoScalingGroupName"]


def _acm(learner):
    acm = aws.client("acm")
    for summary in _all(acm, "list_certificates", "CertificateSummaryList"):
        arn = summary["CertificateArn"]
        if tagged(acm.list_tags_for_certificate(CertificateArn=arn).get("Tags"), learner):
            yield "ACM certificate", summary["DomainName"]


def _route53(learner):
    route53 = aws.client("route53")
    for zone in _all(route53, "list_hosted_zones", "HostedZones"):
        zone_id = zone["Id"].split("/")[-1]
        tags = route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"]["Tags"]
        if tagged(tags, learner):
            yield "Route 53 zone", zone["Name"]


def _iam(learner):
    iam = aws.client("iam")
    for role in _all(iam, "list_roles", "Roles"):
        if tagged(iam.list_role_tags(RoleName=role["RoleName"]).get("Tags"), learner):
            yield "IAM role", role["RoleName"]
    # Listing instance profiles returns no tags: each one is read with GetInstanceProfile.
    for profile in _all(iam, "list_instance_profiles", "InstanceProfiles"):
        described = iam.get_instance_profile(InstanceProfileName=profile["InstanceProfileName"])["InstanceProfile"]
        if tagged(described.get("Tags"), learner):
            yield "IAM instance profile", profile["InstanceProfileName"]


def _logs(learner):
    logs = aws.client("logs")
    for group in _all(logs, "describe_log_groups", "logGroups", logGroupNamePrefix="/ecs/ecs-alb-"):
        tags = logs.list_tags_for_resource(resourceArn=group["arn"].removesuffix(":*")).get("tags", {})
        if tagged(tags, learner):
            yield "log group", group["logGroupName"]


SOURCES = (_ec2, _elbv2, _ecs, _autoscaling, _acm, _route53, _iam, _logs)
SERVICES = {
    _ec2: "EC2",
    _elbv2: "Elastic Load Balancing",
    _ecs: "ECS",
    _autoscaling: "Auto Scaling",
    _acm: "ACM",
    _route53: "Route 53",
    _iam: "IAM",
    _logs: "CloudWatch Logs",
}

# Every resource type of terraform/ that carries the course's tags, and the kind leftovers() reports it as
# (tests/course/test_guard_rails.py checks this against the provider's schema and against the lines found).
KINDS = {
    "aws_vpc": "VPC",
    "aws_subnet": "subnet",
    "aws_internet_gateway": "internet gateway",
    "aws_route_table": "route table",
    "aws_security_group": "security group",
    "aws_default_security_group": "security group",
    "aws_launch_template": "launch template",
    "aws_lb": "load balancer",
    "aws_lb_target_group": "target group",
    "aws_ecs_cluster": "ECS cluster",
    "aws_ecs_service": "ECS service",
    "aws_ecs_task_definition": "ECS task definition",
    "aws_autoscaling_group": "Auto Scaling group",
    "aws_acm_certificate": "ACM certificate",
    "aws_route53_zone": "Route 53 zone",
    "aws_iam_role": "IAM role",
    "aws_iam_instance_profile": "IAM instance profile",
    "aws_cloudwatch_log_group": "log group",
}


def leftovers(learner: str | None = None) -> list[str]:
    """ "kind: name" of every resource tagged by the course (for ``learner``, or anyone's)."""
    import botocore.exceptions  # heavy: imported when a listing runs, not with the package

    found = []
    # A served room: the learner's own account, or every account (the instructor's credential may look into each).
    rooms = emulator.room_accounts()
    accounts = ([rooms[learner]] if learner in rooms else []) if learner else sorted(set(rooms.values()))
    for account, source in [(a, s) for a in accounts or [None] for s in SOURCES]:
        try:
            with aws.in_account(account):
                found += [f"{kind}: {name}" for kind, name in source(learner)]
        except botocore.exceptions.ClientError as error:
            info = error.response.get("Error", {})
            raise CourseError(
                f"Could not list the course's {SERVICES[source]} resources.",
                f"AWS answered {info.get('Code', '?')}: {info.get('Message', error)}",
                "give these credentials read access (the AWS managed policy ReadOnlyAccess covers every service "
                "the course uses), then run this again; nothing was changed.",
            ) from None
    return sorted(found)
