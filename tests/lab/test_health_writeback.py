"""The lab's target health reaches boto3: POST /_course/lab/target-health, then describe_target_health.

Against the session's real emulator (helpers/runtime/moto_lab_health.py, the contract in the lab's brief).
States and reason codes as AWS names them:
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from helpers.lab.alb import health
from helpers.runtime import aws, emulator_routes


@pytest.fixture
def group(emulator_url):
    """A target group with two targets on one instance id (bridge mode: same id, two host ports)."""
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]
    name = f"wb-{uuid.uuid4().hex[:8]}"
    arn = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    elbv2.register_targets(
        TargetGroupArn=arn, Targets=[{"Id": instance, "Port": 32768}, {"Id": instance, "Port": 32769}]
    )
    yield arn, instance
    elbv2.delete_target_group(TargetGroupArn=arn)
    ec2.terminate_instances(InstanceIds=[instance])
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


def _described(arn, **kwargs):
    rows = aws.client("elbv2").describe_target_health(TargetGroupArn=arn, **kwargs)["TargetHealthDescriptions"]
    return {(r["Target"]["Id"], r["Target"]["Port"]): r["TargetHealth"] for r in rows}


def test_written_states_are_what_describe_target_health_returns(group, emulator_url):
    """describe_target_health returns the lab's state, reason and description, target by target (id, port)."""
    arn, instance = group
    assert _described(arn)[(instance, 32768)]["State"] == "healthy"  # moto's own answer before the lab writes
    health.publish(
        emulator_url,
        arn,
        {(instance, 32768): health.Health("unhealthy", "Target.Timeout", "Request timed out")},
    )
    rows = _described(arn)
    assert rows[(instance, 32768)] == {
        "State": "unhealthy",
        "Reason": "Target.Timeout",
        "Description": "Request timed out",
    }
    assert rows[(instance, 32769)]["State"] == "healthy"  # no lab-written state: moto's behaviour
    health.publish(emulator_url, arn, {(instance, 32769): health.INITIAL})
    one = _described(arn, Targets=[{"Id": instance, "Port": 32769}])
    assert one == {
        (instance, 32769): {
            "State": "initial",
            "Reason": "Elb.InitialHealthChecking",
            "Description": "Initial health checks in progress",
        }
    }


def test_in_a_lab_group_registration_starts_initial_and_deregistration_drains(group, emulator_url):
    """Between the lab's posts the emulator answers as AWS: new targets initial, removed ones draining and listed.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
    """
    arn, instance = group
    elbv2 = aws.client("elbv2")
    health.publish(emulator_url, arn, {(instance, 32768): health.HEALTHY, (instance, 32769): health.HEALTHY})
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance, "Port": 32770}])
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance, "Port": 32768}])
    rows = _described(arn)
    assert rows[(instance, 32770)]["Reason"] == "Elb.RegistrationInProgress"
    assert rows[(instance, 32768)] == {
        "State": "draining",
        "Reason": "Target.DeregistrationInProgress",
        "Description": "Target deregistration is in progress",
    }
    health.publish(emulator_url, arn, {(instance, 32768): health.UNUSED})
    assert (instance, 32768) not in _described(arn)  # drained: no longer listed


def _post(url, body: bytes):
    request = urllib.request.Request(url + emulator_routes.LAB_TARGET_HEALTH, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_bad_posts_are_refused_with_the_reason(group, emulator_url):
    """A state or reason code AWS does not have, a malformed body or an unknown group: 400/404, nothing stored."""
    arn, instance = group
    bad_state = {"target_group_arn": arn, "targets": [{"id": instance, "port": 32768, "state": "sick"}]}
    assert _post(emulator_url, json.dumps(bad_state).encode())[0] == 400
    bad_reason = {
        "target_group_arn": arn,
        "targets": [{"id": instance, "port": 1, "state": "unhealthy", "reason": "X"}],
    }
    status, answer = _post(emulator_url, json.dumps(bad_reason).encode())
    assert status == 400 and "reason code" in answer["error"]
    assert _post(emulator_url, b"{not json")[0] == 400
    unknown = {"target_group_arn": arn.replace(arn[-6:], "000000"), "targets": []}
    assert _post(emulator_url, json.dumps(unknown).encode())[0] == 404
    assert _described(arn)[(instance, 32768)]["State"] == "healthy"


def test_a_written_state_counts_as_a_change_only_when_it_changes(group, emulator_url):
    """What the ECS agent watches (helpers/lab/changes.py) moves when describe_target_health's answer changes: a
    health check that finds the same state again is no change."""
    from helpers.lab import changes
    from helpers.runtime import moto_lab_health

    arn, instance = group
    watch = changes.Watch(emulator_url, (moto_lab_health.CHANGES,))
    unhealthy = {(instance, 32768): health.Health("unhealthy", "Target.Timeout", "Request timed out")}
    health.publish(emulator_url, arn, unhealthy)
    first = watch.look()
    health.publish(emulator_url, arn, unhealthy)
    assert watch.look() == first, "the same state again"
    health.publish(emulator_url, arn, {(instance, 32768): health.HEALTHY})
    assert watch.look()[1] == first[1] + 1, "a new state"


def test_each_node_reports_its_own_findings_and_the_most_severe_stands(group, emulator_url):
    """Each load balancer node checks each target (AWS: "Each load balancer node checks the health of each
    target", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html);
    how DescribeTargetHealth combines them AWS does not document, so the lab's rule (moto_lab_health.py): the most
    severe state any node reports stands, healthy only once every node finds it healthy. Two nodes' posts no
    longer overwrite each other, and the change count moves only when the combined state does."""
    from helpers.lab import changes
    from helpers.runtime import moto_lab_health

    arn, instance = group
    target = (instance, 32768)
    timeout = health.Health("unhealthy", "Target.Timeout", "Request timed out")
    watch = changes.Watch(emulator_url, (moto_lab_health.CHANGES,))
    health.publish(emulator_url, arn, {target: health.HEALTHY}, node="10.0.1.254")
    health.publish(emulator_url, arn, {target: timeout}, node="10.0.2.254")
    before = watch.look()
    assert _described(arn)[target] == {
        "State": "unhealthy",
        "Reason": "Target.Timeout",
        "Description": timeout.description,
    }
    health.publish(emulator_url, arn, {target: health.HEALTHY}, node="10.0.1.254")  # the first node again
    assert _described(arn)[target]["State"] == "unhealthy", "the other node's finding is not overwritten"
    assert watch.look() == before, "the combined state did not change: no change counted"
    health.publish(emulator_url, arn, {target: health.HEALTHY}, node="10.0.2.254")
    assert _described(arn)[target] == {"State": "healthy"}, "every node finds it healthy"
    assert watch.look()[1] == before[1] + 1
    health.publish(emulator_url, arn, {target: health.INITIAL}, node="10.0.3.254")  # a node that just started
    assert _described(arn)[target]["State"] == "initial", "healthy only once every reporting node says so"
    health.publish(emulator_url, arn, {target: health.UNUSED})  # without a node (the ECS agent): for every node
    assert _described(arn)[target]["State"] == "unused", "replaces every node's report"


def test_the_combination_rule_and_a_silent_nodes_report():
    """moto_lab_health.combined, pure: severity order, ties by node id, a report older than STALE left out unless
    every one is (then the newest stands)."""
    from helpers.runtime import moto_lab_health as lab_health

    healthy, timeout = ("healthy", None, None), ("unhealthy", "Target.Timeout", "Request timed out")
    mismatch = ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [404]")
    now, old = 1000.0, 1000.0 - lab_health.STALE
    assert lab_health.combined({}, now) is None
    assert lab_health.combined({"a": (healthy, now), "b": (timeout, now)}, now) == timeout
    assert lab_health.combined({"b": (timeout, now), "a": (mismatch, now)}, now) == mismatch, "tie: node a first"
    assert lab_health.combined({"a": (healthy, now), "b": (timeout, old)}, now) == healthy, "b went silent"
    assert lab_health.combined({"a": (healthy, old - 1), "b": (timeout, old)}, now) == timeout, "all silent: newest"
    assert lab_health.SEVERITY[0] == "draining" and set(lab_health.SEVERITY) == lab_health.STATES


def test_a_node_id_that_is_not_one_is_refused(group, emulator_url):
    arn, instance = group
    for node in ("", 7, "x" * 101):
        body = {"target_group_arn": arn, "node": node, "targets": []}
        status, answer = _post(emulator_url, json.dumps(body).encode())
        assert status == 400 and '"node"' in answer["error"]
