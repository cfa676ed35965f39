"""Instructor: every learner's progress, read from what is deployed now.

    python -m helpers facilitator

Works on the room's emulator (run it in the workspace that serves it: it looks
into every learner's account) and on a shared AWS account (``COURSE_TARGET=aws``). Learners are
found by the ``learner`` tag the course puts on everything; each course step is
recognised by the live resource that notebook creates, not by anyone's
Terraform state:

    02 VPC · 03 the ALB's security group · 04 the load balancer · 05 the target
    group · 06 the ECS service · 07 the instances' rule from the ALB's group ·
    08 the alias record in the learner's hosted zone, or <learner>.<zone> in a
    zone the class shares (hosted_zone_id on AWS)

Nothing is changed: only Describe/List calls are made.
"""

from __future__ import annotations

from collections import defaultdict

from ..course import steps
from ..course.tags import COURSE_TAG, learner_of
from ..runtime import aws, emulator

# The steps the table shows: every step of the registry that builds something ("02".."08").
COLUMNS = {step.id: step.progress for step in steps.STEPS if step.progress}


def _ec2(found):
    ec2 = aws.client("ec2")
    course = [{"Name": f"tag:{COURSE_TAG[0]}", "Values": [COURSE_TAG[1]]}]
    for vpc in ec2.describe_vpcs(Filters=course)["Vpcs"]:
        if name := learner_of(vpc.get("Tags")):
            found[name].add("02")
    alb_groups, instance_groups = {}, {}
    for group in ec2.describe_security_groups(Filters=course)["SecurityGroups"]:
        name = learner_of(group.get("Tags"))
        if name and group["GroupName"] == f"ecs-alb-{name}-alb":
            alb_groups[name] = group["GroupId"]
            found[name].add("03")
        elif name and group["GroupName"] == f"ecs-alb-{name}-instances":
            instance_groups[name] = group
    for name, group in instance_groups.items():
        sources = {
            pair.get("GroupId") for p in group.get("IpPermissions", []) for pair in p.get("UserIdGroupPairs", [])
        }
        if name in alb_groups and alb_groups[name] in sources:
            found[name].add("07")


def _elbv2(found):
    elbv2 = aws.client("elbv2")
    arns = [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]
    arns += [tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]]
    for start in range(0, len(arns), 20):
        for described in elbv2.describe_tags(ResourceArns=arns[start : start + 20])["TagDescriptions"]:
            if name := learner_of(described["Tags"]):
                found[name].add("04" if ":loadbalancer/" in described["ResourceArn"] else "05")


def _ecs(found):
    ecs = aws.client("ecs")
    arns = ecs.list_clusters()["clusterArns"]
    for start in range(0, len(arns), 100):
        for cluster in ecs.describe_clusters(clusters=arns[start : start + 100], include=["TAGS"])["clusters"]:
            name = learner_of(cluster.get("tags"))
            if name and cluster["status"] == "ACTIVE":
                found.setdefault(name, set())  # listed even before the service exists
                services = ecs.list_services(cluster=cluster["clusterArn"])["serviceArns"]
                if services and any(
                    s["status"] == "ACTIVE"
                    for s in ecs.describe_services(cluster=cluster["clusterArn"], services=services[:10])["services"]
                ):
                    found[name].add("06")


def _route53(found):
    """08: an alias record in the learner's own zone, or ``<learner>.<zone>`` in a zone the class shares."""
    route53 = aws.client("route53")
    shared = []
    for zone in route53.list_hosted_zones()["HostedZones"]:
        zone_id = zone["Id"].split("/")[-1]
        tags = route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"]["Tags"]
        if name := learner_of(tags):
            found.setdefault(name, set())
            records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
            if any(r["Type"] == "A" and r.get("AliasTarget") for r in records):
                found[name].add("08")
        elif not zone.get("Config", {}).get("PrivateZone"):
            shared.append((zone_id, zone["Name"]))
    for zone_id, zone_name in shared:  # untagged: a zone given as hosted_zone_id (terraform/zone.tf)
        paginator = route53.get_paginator("list_resource_record_sets")
        for page in paginator.paginate(HostedZoneId=zone_id):
            for record in page["ResourceRecordSets"]:
                label = record["Name"].split(".")[0]
                if (
                    record["Type"] == "A"
                    and record.get("AliasTarget")
                    and label in found
                    and record["Name"] == f"{label}.{zone_name}"
                ):
                    found[label].add("08")


def progress() -> dict[str, list[str]]:
    """{learner: the course steps ("02".."08") whose resources exist now}, learners sorted by name."""
    found: dict[str, set] = defaultdict(set)  # learner -> steps
    # A served room: every learner's account (the instructor's credential may look into each); else this one.
    for account in sorted(set(emulator.room_accounts().values())) or [None]:
        with aws.in_account(account):
            for source in (_ec2, _elbv2, _ecs, _route53):  # Route 53 last: shared zones need the learners found
                source(found)
    return {name: sorted(found[name]) for name in sorted(found)}


def next_notebook(applied: list[str]) -> str:
    """The notebook a learner with the step ids ``applied`` works on next (the first step missing)."""
    for step in COLUMNS:
        if step not in applied:
            return steps.BY_ID[step].notebook
    return steps.STEPS[-1].notebook


def table(found: dict[str, list[str]]) -> str:
    """The progress as a text table: one row per learner, ✓ per applied step."""
    if not found:
        return "No learner's resources found (nothing tagged course=ecs-alb exists on this target)."
    width = max(len("learner"), *(len(name) for name in found))
    lines = [f"{'learner':<{width}}  " + "  ".join(COLUMNS) + "  next"]
    for name, applied in found.items():
        marks = "  ".join(f"{'✓' if step in applied else '·':<2}" for step in COLUMNS)
        lines.append(f"{name:<{width}}  {marks}  {next_notebook(applied)}")
    lines.append("")
    lines.append("Steps: " + ", ".join(f"{k} {v}" for k, v in COLUMNS.items()) + ".")
    lines.append(f"{len(found)} learners; {sum(len(s) == len(COLUMNS) for s in found.values())} finished the build.")
    return "\n".join(lines)
