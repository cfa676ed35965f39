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

import os
import shutil
import tempfile
import time
from pathlib import Path

from .. import workspace
from ..errors import CourseError
from ..runtime import aws, cloud, emulator, lab_machine
from ..runtime import learner as learners
from ..tf import state
from ..tf.hcl import write_hcl
from ..tf.override import target_override
from ..tf.runner import Terraform
from ..tf.state import stack_dir
from ..tf.variables import HOST_PORT_RANGE
from . import inventory, session, steps, tags
from .hcl_cells import hcl_cells
from .steps import NOTEBOOKS

STACK = "course"


def state_resources(stack: str = STACK, path: Path | None = None) -> dict[str, dict]:
    """{address: attributes} from the stack's state file (helpers/tf/state.py; no Terraform run, no AWS call)."""
    return state.resources(stack, path)


def _lookup(resources: dict, address: str) -> dict | None:
    """A resource by address; ``type.name`` also finds the first instance of a counted one."""
    return resources.get(address) or resources.get(f"{address}[0]")


def applied(stack: str = STACK, resources: dict | None = None) -> list[str]:
    """The notebooks whose resources are in the state, in course order."""
    resources = state_resources(stack) if resources is None else resources
    return [s.notebook for s in steps.STEPS if s.marker and _lookup(resources, s.marker) is not None]


def start(notebook: str) -> Terraform:
    """Check the notebooks before ``notebook`` have run; return the stack's Terraform."""
    steps.step(notebook, "start()")
    if cloud.is_emulator() and not os.environ.get("AWS_ENDPOINT_URL"):
        session.current().recover(quiet=True)  # started if needed; re-applies the stacks if it had stopped
    resources = state_resources()
    check_learner(resources)
    done = set(applied(resources=resources))
    missing = steps.missing_before(notebook, done)
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
    print(f"Stack {STACK!r}: {status}. Target: {cloud.current()}, region {cloud.region()}.")
    return Terraform(STACK)


def applied_learner(stack: str = STACK, resources: dict | None = None) -> str | None:
    """The learner name found in the stack's state (the learner tag), or None when it is empty."""
    for attributes in (state_resources(stack) if resources is None else resources).values():
        name = tags.learner_of(attributes.get("tags_all"))
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
    override = target_override(stack_dir(STACK)) or {}
    settings = {}
    for name, block in override.get("variable", {}).items():
        value = block["default"]
        settings[name] = workspace.relative(value) if name.endswith("_file") else value
    return settings


def wait_for_targets(target_group_arn: str, count: int, timeout: float = 900) -> list[dict]:
    """Registered targets of the group once there are ``count`` (AWS: ECS needs minutes)."""
    elbv2 = aws.client("elbv2")
    deadline = time.monotonic() + timeout
    while True:
        found = elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.5 if cloud.is_emulator() else 15)  # the lab's ECS registers within a second or two


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


def archive_files(stack: str = STACK) -> str | None:
    """After a teardown: move the stack's .tf files aside, so notebook 02 starts from scratch.

    Nothing is deleted: the files go to ``stacks/<stack>-previous/`` (replacing an older copy).
    ``terraform.tfvars`` (your settings for AWS) stays where it is.
    """
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
    with tempfile.TemporaryDirectory() as folder:
        for _, target, body in hcl_cells(notebooks):
            write_hcl(target, body, folder=Path(folder))
        return {p.name: p.read_text() for p in sorted(Path(folder).glob("*.tf"))}


def catch_up(notebook: str) -> Terraform:
    """Bring the stack to where ``notebook`` starts: apply every step of the notebooks before it.

    The files are those the earlier notebooks' ``%%hcl`` cells write (the notebooks
    are the source of truth), applied in one go; on the emulator, the targets that ECS
    would register (notebook 06 does this by hand) are registered too. Files of yours that
    differ are moved to ``stacks/course-previous/`` first, not deleted. Returns the stack's
    Terraform, like ``start()``.
    """
    steps.step(notebook, "catch_up()")
    if cloud.is_emulator():
        emulator.start(quiet=True)
    check_learner()
    before = NOTEBOOKS[: NOTEBOOKS.index(notebook)]
    missing = steps.missing_before(notebook, set(applied()))
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
        register_targets_like_ecs()
    return start(notebook)


def register_targets_like_ecs() -> None:
    """Notebook 06's non-Terraform step. The emulator runs no ECS agent: register what ECS would.

    One target per desired task, on the instance of the Auto Scaling group, at the first ports
    of HOST_PORT_RANGE (where Docker puts ``hostPort: 0``). Nothing when targets exist already.
    """
    if not cloud.is_emulator() or lab_machine.supervised():
        return  # on AWS, and in the traffic lab, the ECS service registers its tasks itself
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
        Targets=[{"Id": instance_id, "Port": HOST_PORT_RANGE[0] + n} for n in range(service["desiredCount"])],
    )


def reset() -> None:
    """Back to nothing: destroy the stack and move its files aside (what notebook 10 does).

    On an emulator of your own it is reset too; a room's emulator is shared, so only your
    resources go. Afterwards no resource tagged with your learner name is left.
    """
    if cloud.is_emulator():
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
    if cloud.is_emulator() and not emulator.in_room() and not emulator.status()["serving"]:
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
