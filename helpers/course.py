"""The course's one Terraform stack, built notebook by notebook.

Notebooks 02-09 add files to the stack ``course`` (``stacks/course`` in the
workspace); the finished files are exactly those in terraform/. Each notebook
starts with ``tf = course.start("05-target-group")``, which checks that the
notebooks before it have been applied and says which one to run if not.

Start anywhere: ``course.catch_up("07-lock-down-the-instances")`` applies
what notebooks 02-06 apply (their ``%%hcl`` cells, in order, and the emulator's
stand-in for ECS registering targets), so notebook 07 can be opened in a fresh
workspace; ``course.reset()`` destroys the stack and moves its files aside.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import backups, emulator, recovery, targets
from . import learner as learners
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


def applied(stack: str = STACK, resources: dict | None = None) -> list[str]:
    """The notebooks whose resources are in the state, in course order."""
    resources = state_resources(stack) if resources is None else resources
    return [name for name, marker in STEPS if marker and _lookup(resources, marker) is not None]


def start(notebook: str) -> Terraform:
    """Check the notebooks before ``notebook`` have run; return the stack's Terraform."""
    if notebook not in NOTEBOOKS:
        raise CourseError(
            f"{notebook!r} is not a course notebook.",
            "start() takes a notebook's name.",
            f"use one of: {', '.join(NOTEBOOKS)}",
        )
    if targets.is_emulator() and not os.environ.get("AWS_ENDPOINT_URL"):
        recovery.ensure(quiet=True)  # started if needed; re-applies the stacks if it had stopped
    resources = state_resources()
    check_learner(resources)
    done = set(applied(resources=resources))
    missing = _missing_before(notebook, done)
    if missing:
        first = missing[0]
        raise CourseError(
            f"Notebook {notebook} builds on notebook {first}, which has not been applied in this workspace.",
            "Each notebook adds to the same Terraform stack; its resources must exist first.",
            f"open notebooks/{first}.ipynb and run all its cells (Run > Run All Cells), then come back; "
            f'or apply every step before this notebook in one call: course.catch_up("{notebook}")',
        )
    before = NOTEBOOKS[: NOTEBOOKS.index(notebook)]
    earlier = [name for name in before if name in done]
    if not earlier:
        status = "new, this notebook starts it"
    elif len(earlier) == 1:
        status = f"notebook {earlier[0]} applied"
    else:
        status = f"notebooks {earlier[0]} to {earlier[-1]} applied"
    print(f"Stack {STACK!r}: {status}. Target: {targets.current()}, region {targets.region()}.")
    return Terraform(STACK)


def _missing_before(notebook: str, done: set[str]) -> list[str]:
    """The notebooks before ``notebook`` not among ``done`` (applied), in course order."""
    markers = dict(STEPS)
    return [name for name in NOTEBOOKS[: NOTEBOOKS.index(notebook)] if markers.get(name) and name not in done]


def applied_learner(stack: str = STACK, resources: dict | None = None) -> str | None:
    """The learner name found in the stack's state (the learner tag), or None when it is empty."""
    for attributes in (state_resources(stack) if resources is None else resources).values():
        name = (attributes.get("tags_all") or {}).get("learner")
        if name:
            return name
    return None


def learner() -> str:
    """The learner name the stack was applied with (var.learner, tagged on every resource).

    An empty stack: the learner name of this workspace (``python -m helpers learner``).
    """
    return applied_learner() or learners.current()


def check_learner(resources: dict | None = None) -> None:
    """Refuse to go on when the stack was applied under another learner name than the current one."""
    was, now = applied_learner(resources=resources), learners.current()
    if was and was != now:
        raise CourseError(
            f"The course stack in this workspace was applied as learner {was!r}, but your learner name is now {now!r}.",
            "The name is part of every resource name: applying now would replace all of them, and another "
            "learner's workspace must never share this state.",
            f"keep the name: python -m helpers learner {was}   (then restart the kernel); or, to really "
            "change it, tear the stack down first (notebook 10, or course.reset()) and then change it.",
        )


def target_settings() -> dict:
    """The variables the target sets for the course stack (the emulator imports a generated certificate)."""
    from . import workspace
    from .terraform import target_override

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
    for listener in sorted(
        elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"], key=lambda l: -l["Port"]
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
            GroupIds=[resource("aws_security_group.alb")["id"], resource("aws_security_group.instances")["id"]]
        )["SecurityGroups"]
    }
    alb_group = groups[resource("aws_security_group.alb")["id"]]
    instance_group = groups[resource("aws_security_group.instances")["id"]]
    instance_ingress = [
        f"tcp {a}-{b} from the ALB security group" if a != b else f"tcp {a} from the ALB security group"
        for a, b in checks.ports_from_group(instance_group, alb_group["GroupId"])
    ]
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
        "alb_ingress": checks.cidr_ingress(alb_group),
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


# ---------------------------------------------------------------------------
# Start anywhere: catch up to a notebook, or reset to nothing
# ---------------------------------------------------------------------------


def _course_files(notebooks: list[str]) -> dict[str, str]:
    """{file name: text} that the ``%%hcl course/...`` cells of ``notebooks`` write, run in order."""
    import tempfile

    from . import magics
    from .notebooks import hcl_cells

    with tempfile.TemporaryDirectory() as folder:
        for _, target, body in hcl_cells(notebooks):
            magics.write_hcl(target, body, folder=Path(folder))
        return {p.name: p.read_text() for p in sorted(Path(folder).glob("*.tf"))}


def catch_up(notebook: str) -> Terraform:
    """Bring the stack to where ``notebook`` starts: apply every step of the notebooks before it.

    The files are those the earlier notebooks' ``%%hcl`` cells write (the notebooks
    are the source of truth), applied in one go; on the emulator, the targets that ECS
    would register (notebook 06 does this by hand) are registered too. Files of yours that
    differ are moved to ``stacks/course-previous/`` first, not deleted. Returns the stack's
    Terraform, like ``start()``.
    """
    if notebook not in NOTEBOOKS:
        raise CourseError(
            f"{notebook!r} is not a course notebook.",
            "catch_up() takes a notebook's name.",
            f"use one of: {', '.join(NOTEBOOKS)}",
        )
    if targets.is_emulator():
        emulator.start(quiet=True)
    check_learner()
    before = NOTEBOOKS[: NOTEBOOKS.index(notebook)]
    missing = _missing_before(notebook, set(applied()))
    if not missing:
        print(f"Stack {STACK!r}: every notebook before {notebook} is applied already; nothing to do.")
        return start(notebook)
    files = _course_files(before)
    folder = stack_dir(STACK)
    present = {p.name: p.read_text() for p in folder.glob("*.tf")}
    if any(files.get(name) != text for name, text in present.items()):  # would be overwritten or left over
        print(f"The stack's files as they were are kept in {archive_files()}/")
    for name, text in files.items():
        (folder / name).write_text(text)
    print(f"Catching up: applying the steps of {', '.join(before)} (from their %%hcl cells) ...")
    tf = Terraform(STACK)
    tf.apply()
    if "06-ecs-on-ec2" in before:
        _register_targets_like_ecs()
    return start(notebook)


def _register_targets_like_ecs() -> None:
    """Notebook 06's non-Terraform step. The emulator runs no ECS agent: register what ECS would."""
    if not targets.is_emulator():
        return  # on AWS the ECS service registers its tasks itself
    from . import aws

    elbv2, ecs, autoscaling = (aws.client(name) for name in ("elbv2", "ecs", "autoscaling"))
    target_group_arn = resource("aws_lb_target_group.web")["arn"]
    if elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]:
        return
    service = ecs.describe_services(cluster=resource("aws_ecs_cluster.main")["name"], services=["web"])["services"][0]
    group = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[resource("aws_autoscaling_group.ecs")["name"]]
    )["AutoScalingGroups"][0]
    instance_id = group["Instances"][0]["InstanceId"]
    elbv2.register_targets(
        TargetGroupArn=target_group_arn,
        Targets=[{"Id": instance_id, "Port": 32768 + n} for n in range(service["desiredCount"])],
    )


def reset() -> None:
    """Back to nothing: destroy the stack and move its files aside (what notebook 10 does).

    On an emulator of your own it is reset too; a room's emulator is shared, so only your
    resources go. Afterwards no resource tagged with your learner name is left.
    """
    from . import inventory

    if targets.is_emulator():
        emulator.start(quiet=True)
    name = learner()
    folder = stack_dir(STACK)
    if state_resources():
        if not any(folder.glob("*.tf")):
            raise CourseError(
                f"The stack {STACK!r} has resources in its state but no .tf files to destroy them with.",
                "Terraform needs the configuration (at least the provider) to delete what the state lists.",
                f"copy the files back from {STACK}-previous in the stacks folder of your workspace, then reset again.",
            )
        Terraform(STACK).destroy()
    kept = archive_files()
    if kept:
        print(f"Your files are kept in {kept}/")
    if targets.is_emulator() and not emulator.in_room() and not emulator.status()["serving"]:
        emulator.reset()
    left = inventory.leftovers(name)
    if left:
        raise CourseError(
            f"After the reset, {len(left)} resources tagged learner={name} still exist: {', '.join(left[:5])}",
            "They were created outside this workspace's stack (another workspace with the same learner name, "
            "or by hand).",
            "delete them where they were made (their own workspace's notebook 10), or by hand with boto3.",
        )
    print(f"Reset: stack {STACK!r} is empty and nothing tagged learner={name} is left.")
