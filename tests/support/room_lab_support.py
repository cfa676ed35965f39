"""Two learners in one workshop room, each with a traffic lab of their own, for tests/workshop/test_room_lab.py.

``RoomLabRun.start()`` runs ``python -m tests.support.room_lab_support OUT`` (about four minutes, mostly the
provider's fixed waits and the health checks' own timing):

1. the job serves a room emulator on loopback and issues a credential to ana and to ben, each an account;
2. each learner applies terraform/ in a workspace of their own, signed with their credential (at once);
3. each learner starts their lab (both run at the same time, as root, in namespaces of their own);
4. learner by learner: the targets turn healthy and the site answers 200; the source article's port-80 rule
   replaces the lockdown rule and the site answers 504 after the ALB's 10 s; the other learner's targets stay
   healthy all along; the lockdown rule comes back and the site answers 200 again;
5. both labs go down; nothing is left.

Every wait is bounded. The observations go to ``OUT/result.json``; the test asserts on them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support import background
from tests.support.background import Job
from tests.support.lab_e2e_support import DOMAIN, HEALTHY_WITHIN, ArticleRule
from tests.support.room_support import CREDENTIALS, _run_all, as_learner
from tests.support.waiting import wait_until

LEARNERS = ("ana", "ben")
TASKS = 2  # terraform/'s desired_count
SYNCED_WITHIN = 20.0  # seconds for the lab to follow a change (it re-syncs within 1 s: make bench)


class RoomLabRun(Job):
    module, folder, what = (
        "tests.support.room_lab_support",
        "room-lab",
        "two learners' labs in one room",
    )
    timeout = 900


def _until(check, seconds: float, step: float = 0.5):
    """``check()``'s first truthy answer within ``seconds`` (None if none: the result records it, the test asserts)."""
    return wait_until(check, within=seconds, what=getattr(check, "__name__", "check"), every=step, otherwise=None)


def _health(name: str) -> list[tuple[str, int, str]]:
    from helpers.runtime import aws

    elbv2 = aws.client("elbv2")
    arn = elbv2.describe_target_groups(Names=[f"ecs-alb-{name}-web"])["TargetGroups"][0]["TargetGroupArn"]
    found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return sorted((t["Target"]["Id"], t["Target"]["Port"], t["TargetHealth"]["State"]) for t in found)


def _healthy(name: str):
    now = _health(name)
    return now if sum(state == "healthy" for *_, state in now) == TASKS else None


def main(out: Path) -> int:
    from helpers.lab.control import commands as control
    from helpers.runtime import emulator
    from helpers.tf import standalone, toolchain
    from helpers.workshop import room

    shutil.rmtree(out / "instructor", ignore_errors=True)
    room_ws = out / "instructor"
    result: dict = {"learners": list(LEARNERS)}
    with as_learner(room_ws, None, None):
        url = room.serve(host="127.0.0.1")
        CREDENTIALS.update(room.issue(list(LEARNERS)))
        exe = str(toolchain.executable())
        toolchain.cli_config()  # unpacks the provider mirror once; the learners link to it
    result["url_is_loopback"] = url.startswith("http://127.0.0.1:")
    workspaces = {name: out / name for name in LEARNERS}
    try:
        envs, folders = {}, {}
        for name, ws in workspaces.items():
            shutil.rmtree(ws, ignore_errors=True)
            ws.mkdir(parents=True)
            (ws / "providers").symlink_to(room_ws / "providers")
            with as_learner(ws, name, url):
                folders[name] = standalone.prepare(ws / "terraform")
                envs[name] = toolchain.environment()
        init = [exe, "init", "-input=false", "-no-color"]
        apply = [exe, "apply", "-auto-approve", "-input=false", "-no-color"]
        result["apply"] = _run_all({name: [init, apply] for name in LEARNERS}, envs, folders)
        if any(step["code"] for steps in result["apply"].values() for step in steps):
            (out / "result.json").write_text(json.dumps(result, indent=1))
            return 0
        for name, ws in workspaces.items():
            with as_learner(ws, name, url):
                result.setdefault("up", {})[name] = control.up(quiet=True)["mode"]
        for name in LEARNERS:
            other = next(n for n in LEARNERS if n != name)
            result[name] = _story(name, workspaces[name], url, other, workspaces[other])
    finally:
        for name, ws in workspaces.items():
            with as_learner(ws, name, url):
                result.setdefault("down_removed", {})[name] = len(control.down()) if ws.exists() else 0
                result.setdefault("namespaces_left", {})[name] = control.status()["namespaces"]
        with as_learner(room_ws, None, None):
            emulator.stop()
    (out / "result.json").write_text(json.dumps(result, indent=1))
    return 0


def _story(name: str, ws: Path, url: str, other: str, other_ws: Path) -> dict:
    """One learner's lesson through their own lab; the other learner's targets looked at meanwhile."""
    from helpers.lab import model as lab_model
    from helpers.lab.control import commands as control
    from helpers.runtime import aws

    seen: dict = {}
    with as_learner(other_ws, other, url):
        seen["other_before"] = _until(lambda: _healthy(other), HEALTHY_WITHIN)
    with as_learner(ws, name, url):
        ec2 = aws.client("ec2")
        seen["account"] = aws.client("sts").get_caller_identity()["Account"]
        seen["instances"] = sorted(
            i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
        )
        seen["lab_instances"] = sorted(h.id for h in lab_model.read().hosts if h.role == "ec2")
        seen["healthy"] = _until(lambda: _healthy(name), HEALTHY_WITHIN)
        first = control.curl(f"https://{DOMAIN}/")
        seen["first"] = {"status": first.status, "body": first.text}

        rule = ArticleRule.of(ec2, f"ecs-alb-{name}")
        rule.apply()
        try:
            # pushed: the room's emulator tells this learner's supervisor of the write (their account's only)
            wanted = lab_model.read().fingerprint()
            seen["synced"] = control.wait_synced(SYNCED_WITHIN)["fingerprint"] == wanted
            timed_out = control.curl(f"https://{DOMAIN}/", timeout=30)
            seen["port_80"] = {"status": timed_out.status, "seconds": round(timed_out.elapsed, 1)}
        finally:
            rule.restore()
    with as_learner(other_ws, other, url):  # the other learner's lab and targets went on untouched
        seen["other_during"] = _health(other)
    with as_learner(ws, name, url):
        seen["fixed_healthy"] = _until(lambda: _healthy(name), HEALTHY_WITHIN)
        again = control.curl(f"https://{DOMAIN}/")
        seen["fixed"] = {"status": again.status, "body": again.text}
    return seen


if __name__ == "__main__":
    background.main(main)
