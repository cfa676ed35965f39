"""The traffic lab end to end on terraform/, for tests/lab/test_lab_end_to_end.py.

``LabRun.start("lab")`` runs ``python -m tests.support.lab_e2e_support OUT lab`` in the background (about
four minutes, mostly the provider's waits and the health checks' own timing), beside the notebooks:

1. ``terraform apply`` of a copy of terraform/ on an emulator of its own (tests/support/course_support.py's
   ``apply_alone``, whose result tests/course/test_course.py reads as soon as it is written), then ``lab up``;
2. the tasks start, their targets turn healthy, and ``https://<domain>/`` answers 200 through the
   Route 53 alias, the ALB and nginx (the lab's client, and curl run by README.md's ``lab exec`` line);
   ``http://`` answers 301;
3. the source article's port-80 rule replaces the lockdown rule: the targets fail their health
   checks (Target.Timeout), a request waits the ALB's 10 s and gets 504, ECS replaces the tasks;
   the service scaled to 0, no target is registered and the site answers 503;
4. the lockdown rule comes back: the site answers 200 again;
5. the article's instance group (32768-65535 open to the world): the internet reaches a task at the
   instance's public address, past the load balancer;
6. ``lab down``: nothing is left.

Every wait is bounded. The observations go to ``OUT/result.json``; the test asserts on them.
``LabRun.start()`` (no ``lab``: where the lab cannot run) stops after step 1's apply.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support import background, course_support
from tests.support.background import Job
from tests.support.waiting import wait_until

DOMAIN = "app.ecs-alb.example"  # terraform/zone.tf's default domain when no zone is given
HEALTHY_WITHIN = 120.0  # seconds: task start + the health checks' own thresholds and interval
REPLACED_WITHIN = 150.0  # seconds: unhealthy threshold x interval, then ECS's replacement
SYNCED_WITHIN = 30.0  # seconds: the filters follow a group change at once (pushed); the rest is a loaded machine


NAME = f"ecs-alb-{course_support.LEARNER}"  # terraform/main.tf's prefix of every name


class LabRun(Job):
    module, folder, what = (
        "tests.support.lab_e2e_support",
        "lab-e2e",
        "terraform/ applied alone and the traffic lab on it",
    )
    timeout = 900
    parts = (course_support.PART,)


@dataclass
class ArticleRule:
    """The instances' group of the stack named ``prefix`` (ecs-alb-NAME) and the two rules notebook 07 compares:
    the lockdown rule as applied, and the source article's port 80 from the ALB's group. ``apply()`` puts the
    article's rule in the lockdown rule's place; ``restore()`` puts the lockdown rule back."""

    ec2: object
    group_id: str
    lockdown: list
    port_80: list

    @classmethod
    def of(cls, ec2, prefix: str) -> ArticleRule:
        groups = {g["GroupName"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
        instances, alb = groups[f"{prefix}-instances"], groups[f"{prefix}-alb"]
        port_80 = [
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": alb["GroupId"]}]}
        ]
        return cls(ec2, instances["GroupId"], instances["IpPermissions"], port_80)

    def apply(self) -> None:
        self.ec2.revoke_security_group_ingress(GroupId=self.group_id, IpPermissions=self.lockdown)
        self.ec2.authorize_security_group_ingress(GroupId=self.group_id, IpPermissions=self.port_80)

    def restore(self) -> None:
        self.ec2.revoke_security_group_ingress(GroupId=self.group_id, IpPermissions=self.port_80)
        self.ec2.authorize_security_group_ingress(GroupId=self.group_id, IpPermissions=self.lockdown)


def _until(check, seconds: float, step: float = 0.5):
    """``check()``'s first truthy answer within ``seconds`` (None if none: the result records it, the test asserts)."""
    return wait_until(check, within=seconds, what=getattr(check, "__name__", "check"), every=step, otherwise=None)


def main(out: Path, *steps: str) -> int:
    from helpers.runtime import emulator

    emulator.start(quiet=True)
    try:
        if course_support.apply_alone(out) is None:
            return 1
        if "lab" in steps:
            return lab(out)
        (out / "result.json").write_text(json.dumps({"lab": False}))
        return 0
    finally:
        emulator.stop()


def lab(out: Path) -> int:
    """Steps 2-6 on the stack apply_alone built, on the job's emulator."""
    from helpers.lab import model as lab_model
    from helpers.lab.control import commands as control
    from helpers.lab.net import probe
    from helpers.runtime import aws

    result: dict = {}
    try:
        ec2, elbv2, ecs = aws.client("ec2"), aws.client("elbv2"), aws.client("ecs")
        began = time.monotonic()
        control.up(quiet=True)
        result["up_s"] = round(time.monotonic() - began, 2)
        tg = elbv2.describe_target_groups(Names=[f"{NAME}-web"])["TargetGroups"][0]["TargetGroupArn"]

        def health():
            return [
                (t["Target"]["Id"], t["Target"]["Port"], t["TargetHealth"]["State"], t["TargetHealth"].get("Reason"))
                for t in elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
            ]

        def healthy():
            now = health()
            return now if sum(state == "healthy" for _, _, state, _ in now) == 2 else None

        def synced(source: str, instance: str, port: int, verdict: str) -> str:
            """probe's verdict once it is ``verdict`` (the lab followed the change), or the last one."""
            seen = []

            def check():
                seen.append(probe.probe(lab_model.read(), source, instance, port, listen=False, timeout=0.5))
                return seen[-1] == verdict

            _until(check, SYNCED_WITHIN, step=0.1)
            return seen[-1]

        result["healthy"] = _until(healthy, HEALTHY_WITHIN)
        result["rules"] = control.rules(result["healthy"][0][0]) if result["healthy"] else ""
        ok = control.curl(f"https://{DOMAIN}/")
        result["https"] = {
            "status": ok.status,
            "body": ok.text,
            "subject": ok.certificate_subject,
            "verified": ok.verified,
            "error": ok.error,
        }
        readme = subprocess.run(  # README.md's line, as a learner types it
            [sys.executable, "-m", "helpers", "lab", "exec", "--", "curl", "-sk", f"https://{DOMAIN}/"],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=background.REPO,
        )  # fmt: skip
        result["lab_exec_curl"] = {"code": readme.returncode, "body": readme.stdout, "stderr": readme.stderr[-2000:]}
        redirect = control.curl(f"http://{DOMAIN}/path?q=1")
        result["http"] = {"status": redirect.status, "location": redirect.header("Location")}

        # 3. the article's rule: port 80 from the ALB's group, while the targets sit on 32768 and up
        rule = ArticleRule.of(ec2, NAME)
        rule.apply()
        node = next(h.id for h in lab_model.read().hosts if h.role == "alb")
        target_id, target_port = result["healthy"][0][:2]
        result["port_80_synced"] = synced(node, target_id, target_port, "blocked")  # not before the kernel has it
        timed_out = control.curl(f"https://{DOMAIN}/", timeout=30)
        result["port_80_first"] = {"status": timed_out.status, "seconds": round(timed_out.elapsed, 1)}
        seen = set()

        def replaced():
            """ECS has deregistered a failed task's target (it drains, then a new task takes its place)."""
            seen.update(reason for *_, reason in health() if reason)
            return "Target.DeregistrationInProgress" in seen

        result["port_80_replaced"] = bool(_until(replaced, REPLACED_WITHIN, step=0.2))
        result["port_80_reasons"] = sorted(seen)
        # While ECS replaces the tasks, a target is nearly always registered (the replacement starts at once), so
        # the site keeps answering 504; a 503 needs a moment with no registered target. Made certain here:
        # the service scaled to 0 deregisters every target.
        result["port_80_later"] = control.curl(f"https://{DOMAIN}/", timeout=30).status
        ecs.update_service(cluster=NAME, service="web", desiredCount=0)
        result["none_registered"] = bool(
            _until(lambda: all(t[3] == "Target.DeregistrationInProgress" for t in health()), REPLACED_WITHIN)
        )
        answers = []  # the ALB's nodes re-read their target groups each second: ask until they have (bounded)
        _until(lambda: answers.append(control.curl(f"https://{DOMAIN}/", timeout=30).status) or answers[-1] == 503, 60)
        result["no_target"], result["no_target_answers"] = (answers or [None])[-1], answers
        ecs.update_service(cluster=NAME, service="web", desiredCount=2)
        events = ecs.describe_services(cluster=NAME, services=["web"])["services"][0]["events"]
        result["events"] = [e["message"] for e in events[:30]]

        # 4. the fix again
        rule.restore()
        result["fixed_healthy"] = _until(healthy, HEALTHY_WITHIN)
        again = control.curl(f"https://{DOMAIN}/")
        result["fixed"] = {"status": again.status, "body": again.text}

        # 5. the article's repository design: the instances open 32768-65535 to the world
        world = [{"IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        ec2.authorize_security_group_ingress(GroupId=rule.group_id, IpPermissions=world)
        instance_id, port = next((i, p) for i, p, state, _ in health() if state == "healthy")
        lab = lab_model.read()
        public_ip = lab.host(instance_id).public_ip
        result["bypass_probe"] = synced("internet", instance_id, port, "reachable")
        direct = control.curl(f"http://{public_ip}:{port}/")
        result["bypass"] = {"status": direct.status, "body": direct.text}
        ec2.revoke_security_group_ingress(GroupId=rule.group_id, IpPermissions=world)
        result["bypass_closed_probe"] = synced("internet", instance_id, port, "blocked")
    finally:
        result["down_removed"] = len(control.down())
        result["namespaces_left"] = control.status()["namespaces"]
    (out / "result.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    background.main(main)
