"""A room of learners where no learner can touch another's resources.

The instructor serves one emulator and hands out credentials; each credential opens an account of
its own (moto keeps accounts apart), and the room's door (helpers/runtime/room_gate.py) checks every
request's Signature Version 4 signature as AWS does. Two learners try to read and delete each other's
resources: every attempt is refused. Unsigned, wrongly signed and expired requests are refused too.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import botocore.exceptions
import pytest

from helpers.course import inventory
from helpers.errors import CourseError
from helpers.runtime import aws, emulator
from helpers.workshop import facilitator, room

COURSE_TAGS = [{"Key": "course", "Value": "ecs-alb"}]


@contextlib.contextmanager
def workspace_of(path, **env):
    """This process acts in workspace ``path`` (with ``env``), then goes back."""
    names = ("COURSE_WORKSPACE", "COURSE_LEARNER", emulator.ROOM_ENV, emulator.KEY_ENV, emulator.SECRET_ENV)
    saved = {k: os.environ.pop(k, None) for k in names}
    os.environ["COURSE_WORKSPACE"] = str(path)
    os.environ.update(env)
    try:
        yield
    finally:
        for k in names:
            os.environ.pop(k, None)
            if saved[k] is not None:
                os.environ[k] = saved[k]


@pytest.fixture(scope="module")
def the_room(tmp_path_factory, session_emulator):
    base = tmp_path_factory.mktemp("room-accounts")
    with workspace_of(base / "instructor"):
        url = room.serve(host="127.0.0.1")
        given = dict(room.issue(["ana", "ben"]))
    learners = {}
    for name in ("ana", "ben"):
        with workspace_of(base / name):
            said = room.use(url, key=given[name]["access_key"], secret=given[name]["secret_key"])
            assert f"as learner {name}, in an account of your own" in said
        learners[name] = base / name
    try:
        yield {"url": url, "base": base, "given": given, **learners}
    finally:
        with workspace_of(base / "instructor"):
            emulator.stop()


def as_learner(the_room, name):
    return workspace_of(the_room[name])


def test_each_learner_works_in_an_account_of_their_own_and_cannot_touch_anothers(the_room):
    with as_learner(the_room, "ana"):
        ec2, ecs, iam = aws.client("ec2"), aws.client("ecs"), aws.client("iam")
        vpc = ec2.create_vpc(
            CidrBlock="10.5.0.0/16",
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [*COURSE_TAGS, {"Key": "learner", "Value": "ana"}]}],
        )["Vpc"]["VpcId"]
        group = ec2.create_security_group(GroupName="ecs-alb-ana-alb", Description="ana", VpcId=vpc)["GroupId"]
        ecs.create_cluster(clusterName="ecs-alb-ana")
        iam.create_role(RoleName="ecs-alb-ana-instance", AssumeRolePolicyDocument="{}")
        assert aws.client("sts").get_caller_identity()["Account"] == the_room["given"]["ana"]["account"]
    attempts = {
        "describe ana's group": lambda c: c("ec2").describe_security_groups(GroupIds=[group]),
        "delete ana's group": lambda c: c("ec2").delete_security_group(GroupId=group),
        "delete ana's VPC": lambda c: c("ec2").delete_vpc(VpcId=vpc),
        "delete ana's cluster": lambda c: c("ecs").delete_cluster(cluster="ecs-alb-ana"),
        "read ana's role": lambda c: c("iam").get_role(RoleName="ecs-alb-ana-instance"),
        "delete ana's role": lambda c: c("iam").delete_role(RoleName="ecs-alb-ana-instance"),
    }
    with as_learner(the_room, "ben"):
        assert aws.client("sts").get_caller_identity()["Account"] == the_room["given"]["ben"]["account"]
        refused = {}
        for what, attempt in attempts.items():
            with pytest.raises(botocore.exceptions.ClientError) as error:
                attempt(aws.client)
            refused[what] = error.value.response["Error"]["Code"]
        assert vpc not in [v["VpcId"] for v in aws.client("ec2").describe_vpcs()["Vpcs"]]
        assert aws.client("ecs").list_clusters()["clusterArns"] == [], "ben sees no cluster of ana's"
    assert refused == {
        "describe ana's group": "InvalidGroup.NotFound",
        "delete ana's group": "InvalidGroup.NotFound",
        "delete ana's VPC": "InvalidVpcID.NotFound",
        "delete ana's cluster": "ClusterNotFoundException",
        "read ana's role": "NoSuchEntity",
        "delete ana's role": "NoSuchEntity",
    }
    with as_learner(the_room, "ana"):  # everything of ana's is still there
        assert aws.client("ec2").describe_security_groups(GroupIds=[group])["SecurityGroups"]
        assert aws.client("ecs").describe_clusters(clusters=["ecs-alb-ana"])["clusters"][0]["status"] == "ACTIVE"
    with workspace_of(the_room["base"] / "instructor"):  # the facilitator still sees every learner
        assert facilitator.progress()["ana"] == ["02"]
        assert "VPC: vpc" in " ".join(inventory.leftovers("ana"))
        assert inventory.leftovers("ben") == []


def test_unsigned_and_wrongly_signed_requests_are_refused(the_room):
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(the_room["url"] + "/?Action=DescribeVpcs&Version=2016-11-15", timeout=5)
    assert anonymous.value.code == 403 and b"MissingAuthenticationToken" in anonymous.value.read()
    with pytest.raises(urllib.error.HTTPError) as reset:  # nor may anyone but the instructor reset the room
        urllib.request.urlopen(urllib.request.Request(the_room["url"] + "/moto-api/reset", method="POST"), timeout=5)
    assert reset.value.code == 403
    ana = the_room["given"]["ana"]
    with pytest.raises(CourseError) as wrong:
        room.whoami(the_room["url"], ana["access_key"], "not-the-secret")
    assert "The request signature we calculated does not match" in wrong.value.what
    with pytest.raises(CourseError) as unknown:
        room.whoami(the_room["url"], "AKIAROOM" + "0" * 12, "x")
    assert "is not one of this room's" in unknown.value.what


def test_an_expired_or_someone_elses_credential_gets_one_clear_message(the_room):
    with workspace_of(the_room["base"] / "instructor"):
        (late,) = room.issue(["cara"], hours=-1)
    with workspace_of(the_room["base"] / "cara"), pytest.raises(CourseError) as expired:
        room.use(the_room["url"], key=late[1]["access_key"], secret=late[1]["secret_key"])
    assert "has expired" in expired.value.what and "new one" in expired.value.what
    ben = the_room["given"]["ben"]
    with as_learner(the_room, "ana"), pytest.raises(CourseError) as other:
        room.use(the_room["url"], key=ben["access_key"], secret=ben["secret_key"])
    assert "This credential is ben's, but this workspace is learner ana's." == other.value.what
    with workspace_of(the_room["base"] / "dan"), pytest.raises(CourseError) as missing:
        room.use(the_room["url"])
    assert "needs your room credential" in missing.value.what


def test_the_room_refuses_learners_beyond_its_capacity(the_room, monkeypatch):
    monkeypatch.setattr(room, "CAPACITY", 3)  # ana, ben, cara are in
    with workspace_of(the_room["base"] / "instructor"), pytest.raises(CourseError) as full:
        room.issue(["dan"])
    assert "The room is full" in full.value.what


def test_a_learners_shell_gets_their_credential_for_plain_terraform_and_boto3(the_room, tmp_path):
    """`eval "$(python -m helpers env)"`: boto3 and plain Terraform in that shell act as the learner."""
    from helpers.tf import toolchain

    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "main.tf").write_text(
        toolchain.HEADER_HCL
        + 'resource "aws_security_group" "probe" {\n  name        = "ecs-alb-ben-shell"\n  description = "shell"\n}\n'
    )
    (folder / "who.py").write_text(
        "import boto3\nprint('account', boto3.client('sts').get_caller_identity()['Account'])\n"
        "print('groups', [g['GroupName'] for g in boto3.client('ec2').describe_security_groups()['SecurityGroups']])\n"
    )
    script = (
        f'set -e\neval "$({sys.executable} -m helpers env)"\n{sys.executable} -m helpers override {folder}\n'
        f"cd {folder}\nterraform init -input=false >/dev/null\n"
        'terraform apply -auto-approve -input=false -no-color | grep "Apply complete"\n'
        f"{sys.executable} who.py\nterraform destroy -auto-approve -input=false -no-color | tail -n 1\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "COURSE_"))}
    env["COURSE_WORKSPACE"] = str(the_room["ben"])
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"account {the_room['given']['ben']['account']}" in proc.stdout
    groups = json.loads(proc.stdout.split("groups ")[1].splitlines()[0].replace("'", '"'))
    assert "ecs-alb-ben-shell" in groups and "ecs-alb-ana-alb" not in groups, "ben's account only"
    assert "Destroy complete! Resources: 1 destroyed." in proc.stdout


def _target_group(name: str) -> str:
    """A target group in the current learner's account, with one registered instance target."""
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    arn = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    return arn


def _states(arn: str) -> list[str]:
    found = aws.client("elbv2").describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return [t["TargetHealth"]["State"] for t in found]


def test_a_learners_lab_writes_to_their_own_account_only(the_room):
    """The lab's writes that no AWS API offers (target health, service events) and its look at the change
    counts are signed with the learner's credential (helpers/runtime/emulator_api.py), so a room serves them;
    the room acts on them in the signer's account only (issue 24: the lab in a room)."""
    from helpers.lab import changes
    from helpers.lab.alb import health
    from helpers.lab.ecs import events

    url = the_room["url"]
    with as_learner(the_room, "ben"):
        bens = _target_group("ben-web")
        ecs = aws.client("ecs")
        ecs.create_cluster(clusterName="ecs-alb-ben-lab")
        bens_cluster = ecs.describe_clusters(clusters=["ecs-alb-ben-lab"])["clusters"][0]["clusterArn"]
    with as_learner(the_room, "ana"):
        anas = _target_group("ana-web")
        assert changes.Watch(url, ("elasticloadbalancing",)).look() is not None, "the signed look is answered"
        health.claim(url, anas)  # the lab takes over ana's group's health: a new target starts `initial`
        aws.client("elbv2").register_targets(TargetGroupArn=anas, Targets=[{"Id": "i-0a", "Port": 32768}])
        assert _states(anas) == ["initial"], "ana's own lab write took effect in her account"
        with pytest.raises(urllib.error.HTTPError) as other_group:
            health.claim(url, bens)
        assert other_group.value.code == 403 and b"is not in account" in other_group.value.read()
        with pytest.raises(CourseError) as other_service:
            events.post(url, {"region": "us-east-1", "cluster": bens_cluster, "service": "web"})
        assert "403" in other_service.value.why
    with as_learner(the_room, "ben"):
        aws.client("elbv2").register_targets(TargetGroupArn=bens, Targets=[{"Id": "i-0b", "Port": 32768}])
        assert _states(bens) == ["healthy"], "ben's group is untouched by ana's lab (moto's own answer)"
    unsigned = urllib.request.Request(
        url + "/_course/lab/target-health",
        data=json.dumps({"target_group_arn": bens, "targets": []}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(unsigned, timeout=5)
    assert anonymous.value.code == 403 and b"MissingAuthenticationToken" in anonymous.value.read()
