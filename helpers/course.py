"""The course's one Terraform stack, built notebook by notebook.

Notebooks 02-09 add files to the stack ``course`` (``stacks/course`` in the
workspace); the finished files are exactly those in terraform/. Each notebook
starts with ``tf = course.start("05-target-group")``, which checks that the
notebooks before it have been applied and says which one to run if not.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from . import backups, recovery, targets
from .errors import CourseError
from .terraform import Terraform, stack_dir

STACK = "course"

# Notebook -> the resource whose presence in the state proves its last apply ran.
STEPS = (
    ("02-network", "aws_route_table_association.public"),
    ("03-alb-security-group", "aws_security_group_rule.alb_to_targets"),
    ("04-alb-and-listeners", "aws_lb_listener.https"),
    ("05-target-group", "aws_lb_listener_rule.web"),
    ("06-ecs-on-ec2", "aws_ecs_service.web"),
    ("07-lock-down-the-instances", "aws_security_group_rule.instances_from_alb"),
    ("08-dns", "aws_route53_record.app"),
    ("09-verify-everything", None),
)
NOTEBOOKS = [name for name, _ in STEPS]


def state_resources(stack: str = STACK, path: Path | None = None) -> dict[str, dict]:
    """{address: attributes} from a state file (no Terraform run, no AWS call).

    ``path`` defaults to the stack's ``terraform.tfstate``. Resources with
    ``count``/``for_each`` appear as ``type.name[0]`` / ``type.name["key"]``.
    """
    path = path or stack_dir(stack) / backups.STATE
    state = backups.check(stack, path) or {}  # a damaged file: a message naming the backup to restore
    found = {}
    for resource in state.get("resources", []):
        if resource.get("mode") != "managed" or resource.get("module"):
            continue
        base = f"{resource['type']}.{resource['name']}"
        for instance in resource.get("instances", []):
            key = instance.get("index_key")
            found[base if key is None else f"{base}[{json.dumps(key)}]"] = instance.get("attributes", {})
    return found


def _lookup(resources: dict, address: str) -> dict | None:
    """A resource by address; ``type.name`` also finds the first instance of a counted one."""
    return resources.get(address) or resources.get(f"{address}[0]")


def applied(stack: str = STACK) -> list[str]:
    """The notebooks whose resources are in the state, in course order."""
    resources = state_resources(stack)
    return [name for name, marker in STEPS if marker and _lookup(resources, marker) is not None]


def start(notebook: str) -> Terraform:
    """Check the notebooks before ``notebook`` have run; return the stack's Terraform."""
    if notebook not in NOTEBOOKS:
        raise CourseError(f"{notebook!r} is not a course notebook.", "start() takes a notebook's name.",
                          f"use one of: {', '.join(NOTEBOOKS)}")
    if targets.is_emulator() and not os.environ.get("AWS_ENDPOINT_URL"):
        recovery.ensure(quiet=True)  # started if needed; re-applies the stacks if it had stopped
    done = set(applied())
    before = NOTEBOOKS[: NOTEBOOKS.index(notebook)]
    markers = dict(STEPS)
    missing = [name for name in before if markers.get(name) and name not in done]
    if missing:
        first = missing[0]
        raise CourseError(
            f"Notebook {notebook} builds on notebook {first}, which has not been applied in this workspace.",
            "Each notebook adds to the same Terraform stack; its resources must exist first.",
            f"open notebooks/{first}.ipynb and run all its cells (Run > Run All Cells), then come back.",
        )
    earlier = [name for name in before if name in done]
    if not earlier:
        status = "new, this notebook starts it"
    elif len(earlier) == 1:
        status = f"notebook {earlier[0]} applied"
    else:
        status = f"notebooks {earlier[0]} to {earlier[-1]} applied"
    print(f"Stack {STACK!r}: {status}. Target: {targets.current()}, region {targets.region()}.")
    return Terraform(STACK)


def learner() -> str:
    """The learner name the stack was applied with (var.learner, tagged on every resource)."""
    for attributes in state_resources().values():
        name = (attributes.get("tags_all") or {}).get("learner")
        if name:
            return name
    return "learner"  # the default of var.learner


def target_settings() -> dict:
    """The variables the target sets for the course stack (the emulator imports a generated certificate)."""
    from .terraform import target_override
    from . import workspace

    override = target_override(stack_dir(STACK)) or {}
    settings = {}
    for name, block in override.get("variable", {}).items():
        value = block["default"]
        settings[name] = workspace.relative(value) if name.endswith("_file") else value
    return settings


def wait_for_targets(target_group_arn: str, count: int, timeout: float = 900) -> list[dict]:
    """Registered targets of the group once there are ``count`` (AWS: ECS needs minutes)."""
    import time

    from . import aws

    elbv2 = aws.client("elbv2")
    deadline = time.monotonic() + timeout
    while True:
        found = elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(15)


def resource(address: str, stack: str = STACK) -> dict:
    """Attributes of one resource from the state, e.g. ``resource("aws_lb.main")["arn"]``."""
    found = _lookup(state_resources(stack), address)
    if found is None:
        raise CourseError(
            f"{address} is not in the Terraform state of stack {stack}.",
            "Terraform has not created it yet (or it was destroyed).",
            "run the notebook's apply cell above, then this cell again.",
        )
    return found


def describe_live() -> dict:
    """What is deployed now, read with boto3, in the shape ``live_diagram.draw_live`` takes.

    Instance IDs are replaced by "instance 1", "instance 2"... so the picture
    is the same on every run.
    """
    from . import aws, checks

    ec2, elbv2, ecs, route53 = (aws.client(name) for name in ("ec2", "elbv2", "ecs", "route53"))
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[resource("aws_lb.main")["arn"]])["LoadBalancers"][0]
    listeners = []
    for listener in sorted(elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"],
                           key=lambda l: -l["Port"]):
        rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        actions = [a["Type"] for r in rules for a in r["Actions"] if not r["IsDefault"]]
        listeners.append({"port": listener["Port"], "protocol": listener["Protocol"],
                          "action": actions[0] if actions else listener["DefaultActions"][0]["Type"]})
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(
        GroupIds=[resource("aws_security_group.alb")["id"], resource("aws_security_group.instances")["id"]])["SecurityGroups"]}
    alb_group = groups[resource("aws_security_group.alb")["id"]]
    instance_group = groups[resource("aws_security_group.instances")["id"]]
    instance_ingress = [f"tcp {a}-{b} from the ALB security group" if a != b else f"tcp {a} from the ALB security group"
                        for a, b in checks.ports_from_group(instance_group, alb_group["GroupId"])]
    instance_ingress += checks.cidr_ingress(instance_group)
    tg = elbv2.describe_target_groups(TargetGroupArns=[resource("aws_lb_target_group.web")["arn"]])["TargetGroups"][0]
    health = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    labels = {}
    for t in sorted(health, key=lambda t: (t["Target"]["Id"], t["Target"]["Port"])):
        labels.setdefault(t["Target"]["Id"], f"instance {len(labels) + 1}")
    service = ecs.describe_services(cluster=resource("aws_ecs_cluster.main")["name"], services=["web"])["services"][0]
    domain = None
    record = state_resources().get("aws_route53_record.app")
    if record:  # the name as Route 53 holds it, found by the record Terraform made
        wanted = record["fqdn"].rstrip(".")
        names = [r["Name"].rstrip(".") for r in route53.list_resource_record_sets(HostedZoneId=record["zone_id"])["ResourceRecordSets"]
                 if r["Type"] == "A" and r.get("AliasTarget") and r["Name"].rstrip(".") == wanted]
        domain = names[0] if names else None
    return {
        "domain": domain,
        "load_balancer": {"name": lb["LoadBalancerName"], "scheme": lb["Scheme"], "subnets": len(lb["AvailabilityZones"])},
        "listeners": listeners,
        "alb_ingress": checks.cidr_ingress(alb_group),
        "target_group": {"name": tg["TargetGroupName"], "protocol": tg["Protocol"],
                         "health_check": f"{tg['HealthCheckPath']} on {tg['HealthCheckPort']}"},
        "targets": [{"instance": labels[t["Target"]["Id"]], "port": t["Target"]["Port"],
                     "health": t["TargetHealth"]["State"]}
                    for t in sorted(health, key=lambda t: (t["Target"]["Id"], t["Target"]["Port"]))],
        "instance_ingress": instance_ingress,
        "cluster": service["clusterArn"].split("/")[-1], "service": service["serviceName"],
        "tasks_desired": service["desiredCount"],
    }


def archive_files(stack: str = STACK) -> str | None:
    """After a teardown: move the stack's .tf files aside, so notebook 02 starts from scratch.

    Nothing is deleted: the files go to ``stacks/<stack>-previous/`` (replacing an older copy).
    ``terraform.tfvars`` (your settings for AWS) stays where it is.
    """
    import shutil

    from . import workspace

    folder = stack_dir(stack)
    files = [p for p in folder.iterdir() if p.suffix == ".tf"]
    if not files:
        return None
    keep = folder.parent / f"{stack}-previous"
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir()
    for path in files:
        shutil.move(str(path), keep / path.name)
    return workspace.relative(keep)
