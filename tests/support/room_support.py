"""A workshop room, for tests/workshop/test_room.py: 8 learners on one shared emulator.

``Room.start()`` runs ``python -m tests.support.room_support OUT`` in the background
(it takes about a minute, so it runs beside the notebook chain):

1. the "instructor" workspace serves one emulator (on loopback here);
2. 8 learner workspaces use it (COURSE_EMULATOR_URL, COURSE_LEARNER), each with a
   copy of terraform/, and run ``terraform init`` and ``apply`` *at the same time*,
   with ``-target=`` the named, account-wide resources (IAM role and instance
   profile, ECS cluster, log group, launch template, task definition) plus the VPC
   and security groups; pairs of learners go on to different course steps (ALB
   group, target group, the lockdown rule), so the facilitator sees 4 stages;
3. half of them destroy at once, while a 9th learner catches up to notebook 04
   with ``course.catch_up``; then that learner resets, and the rest destroy;
4. out of the room, ``course.reset()`` on a workspace's own emulator empties it.

After each phase it records the tagged inventory of every learner and the
facilitator's view; the test asserts on the result file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

from tests.support import background
from tests.support.background import Job

LEARNERS = ["ana", "ben", "chen", "dara", "eli", "fay", "gus", "hana"]
LATE = "ivy"  # joins late and catches up
BASE = [
    "aws_vpc.main",
    "aws_security_group.instances",
    "aws_iam_instance_profile.instance",
    "aws_iam_role_policy_attachment.instance_ecs",
    "aws_ecs_cluster.main",
    "aws_cloudwatch_log_group.web",
    "aws_launch_template.ecs",
    "aws_ecs_task_definition.web",
]
ALB_GROUP = [
    "aws_security_group_rule.alb_https_in",
    "aws_security_group_rule.alb_http_in",
    "aws_security_group_rule.alb_to_targets",
]
TARGET_GROUP = ["aws_lb_target_group.web"]
LOCKDOWN = ["aws_security_group_rule.instances_from_alb"]


def targets_for(index: int) -> list[str]:
    """Learners 0-1 stop after the network, 2-3 after the ALB's group, 4-5 after the target group, 6-7 lock down."""
    stage = index // 2
    return (
        BASE
        + (ALB_GROUP if stage >= 1 else [])
        + (TARGET_GROUP if stage >= 2 else [])
        + (LOCKDOWN if stage >= 3 else [])
    )


def expected_steps(index: int) -> list[str]:
    return ["02", "03", "05", "07"][: index // 2 + 1]


class Room(Job):
    module, folder, what = "tests.support.room_support", "room", "the workshop room run"
    timeout = 1200
    shares_workspace = True  # it makes the workspaces of the instructor and every learner itself


CREDENTIALS: dict[str, dict] = {}  # learner -> the room credential the instructor issued


@contextlib.contextmanager
def as_learner(ws: Path, name: str | None, url: str | None):
    """This process acts in workspace ``ws`` as learner ``name`` on the room emulator ``url``, with their credential."""
    keys = ("COURSE_WORKSPACE", "COURSE_LEARNER", "COURSE_EMULATOR_URL", "COURSE_ROOM_KEY", "COURSE_ROOM_SECRET")
    given = CREDENTIALS.get(name, {}) if url else {}
    saved = {k: os.environ.get(k) for k in keys}
    values = (str(ws), name, url, given.get("access_key"), given.get("secret_key"))
    for key, value in zip(keys, values, strict=True):
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_all(jobs: dict[str, list[list[str]]], envs: dict, folders: dict) -> dict:
    """Run each learner's commands (in order) in a thread of its own, all learners at once."""
    results = {}

    def work(name):
        for argv in jobs[name]:
            began = time.monotonic()
            proc = subprocess.run(argv, cwd=folders[name], env=envs[name], capture_output=True, text=True, timeout=900)
            results.setdefault(name, []).append(
                {
                    "args": argv[1:3],
                    "code": proc.returncode,
                    "seconds": round(time.monotonic() - began, 1),
                    "error": proc.stderr[-2000:] if proc.returncode else "",
                }
            )
            if proc.returncode:
                return

    threads = [threading.Thread(target=work, args=(name,)) for name in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main(out: Path) -> int:
    import shutil

    from helpers import course
    from helpers.course import inventory
    from helpers.runtime import emulator
    from helpers.tf import standalone, state, toolchain
    from helpers.workshop import facilitator, room

    shutil.rmtree(out, ignore_errors=True)
    result: dict = {"learners": LEARNERS, "late": LATE}
    room_ws = out / "instructor"
    began = time.monotonic()
    with as_learner(room_ws, None, None):
        url = room.serve(host="127.0.0.1")
        CREDENTIALS.update(room.issue([*LEARNERS, LATE]))  # one account per learner
        exe = toolchain.executable()
        toolchain.cli_config()  # unpacks the provider mirror once; learners link to it
    result["url_is_loopback"] = url.startswith("http://127.0.0.1:")
    envs, folders = {}, {}
    try:
        for name in [*LEARNERS, LATE]:
            ws = out / name
            ws.mkdir(parents=True)
            (ws / "providers").symlink_to(room_ws / "providers")  # 170 MB once, not 9 times
            with as_learner(ws, name, url):
                folders[name] = standalone.prepare(ws / "terraform")
                envs[name] = toolchain.environment()
        init = [str(exe), "init", "-input=false", "-no-color"]
        jobs = {
            name: [
                init,
                [
                    str(exe),
                    "apply",
                    "-auto-approve",
                    "-input=false",
                    "-no-color",
                    *[f"-target={t}" for t in targets_for(i)],
                ],
            ]
            for i, name in enumerate(LEARNERS)
        }
        phase = time.monotonic()
        result["apply"] = _run_all(jobs, envs, folders)
        result["apply_s"] = round(time.monotonic() - phase, 1)

        def snapshot():
            with as_learner(room_ws, None, None):
                return {
                    "inventory": {n: inventory.leftovers(n) for n in [*LEARNERS, LATE]},
                    "progress": facilitator.progress(),
                    "table": facilitator.table(facilitator.progress()),
                }

        result["after_apply"] = snapshot()

        # On AWS a class shares one hosted zone: without domain_name, each learner plans a name of their own.
        # In the room each learner has an account of their own, so each gets such a zone there.
        result["shared_zone_domains"], zones = {}, {}
        for name in LEARNERS[:2]:
            with as_learner(out / name, name, url):
                from helpers import aws

                made = aws.client("route53").create_hosted_zone(Name="class.example.com", CallerReference="room")
            zones[name] = made["HostedZone"]["Id"].split("/")[-1]
            plan = subprocess.run(
                [
                    str(exe),
                    "plan",
                    "-input=false",
                    "-no-color",
                    "-var=certificate_source=acm-dns",
                    f"-var=hosted_zone_id={zones[name]}",
                ],
                cwd=folders[name],
                env=envs[name],
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert plan.returncode == 0, plan.stderr
            result["shared_zone_domains"][name] = sorted(set(re.findall(r'domain_name\s+=\s+"([^"]+)"', plan.stdout)))
        # The facilitator counts <learner>.<zone> in such a shared (untagged) zone as step 08.
        alias = {
            "Name": f"{LEARNERS[0]}.class.example.com",
            "Type": "A",
            "AliasTarget": {
                "HostedZoneId": "Z35SXDOTRQ7X7K",
                "DNSName": "ecs-alb-ana-1.us-east-1.elb.amazonaws.com",
                "EvaluateTargetHealth": True,
            },
        }
        with as_learner(out / LEARNERS[0], LEARNERS[0], url):
            route53 = aws.client("route53")
            route53.change_resource_record_sets(
                HostedZoneId=zones[LEARNERS[0]],
                ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": alias}]},
            )
        with as_learner(room_ws, None, None):
            result["shared_zone_progress"] = facilitator.progress()
        with as_learner(out / LEARNERS[0], LEARNERS[0], url):
            route53.change_resource_record_sets(
                HostedZoneId=zones[LEARNERS[0]],
                ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": alias}]},
            )
        for name, zone_id in zones.items():
            with as_learner(out / name, name, url):
                aws.client("route53").delete_hosted_zone(Id=zone_id)
        result["states"] = {n: sorted(course.state_resources(path=folders[n] / "terraform.tfstate")) for n in LEARNERS}

        # Half the room tears down at once, while a late learner catches up to notebook 04.
        first_half = LEARNERS[::2]
        destroy = [str(exe), "destroy", "-auto-approve", "-input=false", "-no-color"]
        box = {}
        thread = threading.Thread(
            target=lambda: box.update(destroy=_run_all({n: [destroy] for n in first_half}, envs, folders))
        )
        phase = time.monotonic()
        thread.start()
        with as_learner(out / LATE, LATE, url):
            course.catch_up("04-alb-and-listeners")
            course.start("04-alb-and-listeners")
            result["late_applied"] = course.applied()
            result["late_files"] = sorted(p.name for p in state.stack_dir(course.STACK).glob("*.tf"))
        thread.join()
        result["destroy_half"] = box["destroy"]
        result["destroy_half_s"] = round(time.monotonic() - phase, 1)
        result["after_half"] = snapshot()

        with as_learner(out / LATE, LATE, url):
            course.reset()
            result["late_after_reset"] = {
                "applied": course.applied(),
                "state": course.state_resources(),
                "files": sorted(p.name for p in state.stack_dir(course.STACK).glob("*.tf")),
            }
        result["after_late_reset"] = snapshot()

        result["destroy_rest"] = _run_all({n: [destroy] for n in LEARNERS[1::2]}, envs, folders)
        result["after_all"] = snapshot()

        # Out of a room, reset() also empties the learner's own emulator (as notebook 10 does).
        with as_learner(out / "solo", "solo", None):
            from helpers import aws

            try:
                import io

                aws.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")
                said = io.StringIO()
                with contextlib.redirect_stdout(said):
                    course.reset()
                result["solo_reset"] = {
                    "said": said.getvalue(),
                    "vpcs_left": [v["VpcId"] for v in aws.client("ec2").describe_vpcs()["Vpcs"] if not v["IsDefault"]],
                }
            finally:
                emulator.stop()
        result["total_s"] = round(time.monotonic() - began, 1)
        (out / "result.json").write_text(json.dumps(result, indent=1))
        print(json.dumps({k: result[k] for k in ("apply_s", "destroy_half_s", "total_s")}))
        return 0
    finally:
        with as_learner(room_ws, None, None):
            emulator.stop()


if __name__ == "__main__":
    background.main(main)
