"""python -m helpers doctor: a table with a fix for every failure; exit 0 only when ready."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers.course import doctor
from helpers.course.notebook import write_cell


def test_doctor_passes_on_a_ready_machine(emulator_url):
    proc = subprocess.run([sys.executable, "-m", "helpers", "doctor"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("Python", "Terraform", "AWS provider", "Emulator", "Graphviz"):
        assert f"✓ {name}" in proc.stdout
    assert "diagrams icon" in proc.stdout and "Ready: every check passed." in proc.stdout


def test_missing_dot_fails_with_the_install_lines(monkeypatch, tmp_path, emulator_url):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no Graphviz on it
    results = {c.name: c for c in doctor.run()}
    graphviz = results["Graphviz"]
    assert not graphviz.ok and "'dot' program was not found" in graphviz.detail
    for line in ("apt-get install graphviz", "brew install graphviz", "conda install -c conda-forge graphviz"):
        assert line in graphviz.fix
    report = doctor.report(list(results.values()))
    assert "✗ Graphviz" in report and "Not ready" in report


def test_doctor_never_crashes_on_a_broken_check(monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "CHECKS", (broken,))
    [result] = doctor.run()
    assert not result.ok and "boom" in result.detail and result.fix


def test_hcl_cell_writes_the_stack_file():
    report = write_cell("unit-magic/main.tf", 'resource "aws_security_group" "a" {\n}\ndata "aws_vpc" "d" {}\n')
    assert report == "Saved <workspace>/stacks/unit-magic/main.tf (aws_security_group.a, data aws_vpc.d)"


# --- The VPC quota (doctor on the aws target): issue 27 -------------------------------------------------
# Each learner's stack creates a VPC and an internet gateway, 5 of each per Region by default:
# https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html


def test_room_reads_the_quotas_and_counts_the_vpcs_on_the_emulator(emulator_url):
    # moto serves Service Quotas for Amazon VPC (the default quotas, as AWS's GetServiceQuota returns them).
    from helpers.course import quotas
    from helpers.runtime import aws

    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "course", "Value": "ecs-alb"}, {"Key": "learner", "Value": "qroom"}])
    try:
        room = quotas.room("qroom")
        vpcs = len(ec2.describe_vpcs()["Vpcs"])
        gateways = len(ec2.describe_internet_gateways()["InternetGateways"])
        assert (room.vpc_quota, room.gateway_quota) == (5, 5)
        assert (room.vpcs, room.gateways) == (vpcs, gateways) and room.own_vpc
        assert room.free == max(0, min(5 - vpcs, 5 - gateways))
        assert f"VPCs {vpcs} of 5, internet gateways {gateways} of 5 in us-east-1" in room.text()
        assert not quotas.room("someone-else").own_vpc
    finally:
        ec2.delete_vpc(VpcId=vpc)


def test_room_left_is_the_smaller_of_the_two_quotas():
    from helpers.course.quotas import Room

    assert Room(vpc_quota=10, vpcs=3, gateway_quota=10, gateways=4, own_vpc=False).free == 6
    assert Room(vpc_quota=5, vpcs=5, gateway_quota=5, gateways=5, own_vpc=False).free == 0
    assert Room(vpc_quota=5, vpcs=6, gateway_quota=5, gateways=1, own_vpc=False).free == 0  # never negative


def quotas_client():
    import boto3

    return boto3.client(
        "service-quotas", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x"
    )


def test_a_quota_with_no_applied_value_falls_back_to_the_default():
    # GetServiceQuota answers NoSuchResourceException when AWS has no applied value for a quota; the
    # default is then GetAWSDefaultServiceQuota's (botocore's Stubber checks each request against the model).
    from botocore.stub import Stubber

    from helpers.course import quotas

    client = quotas_client()
    with Stubber(client) as stub:
        wanted = {"ServiceCode": "vpc", "QuotaCode": "L-F678F1CE"}
        stub.add_client_error("get_service_quota", "NoSuchResourceException", expected_params=wanted)
        stub.add_response("get_aws_default_service_quota", {"Quota": {"Value": 5.0}}, wanted)
        assert quotas.quota(quotas.VPCS, client) == 5
        stub.assert_no_pending_responses()


def test_an_unreadable_quota_is_one_clear_message_and_does_not_block_the_doctor(monkeypatch):
    from botocore.stub import Stubber

    from helpers.course import quotas
    from helpers.errors import CourseError

    client = quotas_client()
    with Stubber(client) as stub:
        stub.add_client_error("get_service_quota", "AccessDeniedException", "not authorized")
        with pytest.raises(CourseError) as info:
            quotas.quota(quotas.VPCS, client)
    text = info.value.render()
    assert "Could not read the quota L-F678F1CE of Amazon VPC" in text and "AccessDeniedException" in text
    assert "servicequotas:GetServiceQuota" in text and "--quota-code L-F678F1CE" in text
    monkeypatch.setattr(doctor.cloud, "is_emulator", lambda: False)
    monkeypatch.setattr(doctor.quotas, "room", lambda learner: quotas.quota(quotas.VPCS, client))
    with Stubber(client) as stub:
        stub.add_client_error("get_service_quota", "AccessDeniedException", "not authorized")
        row = doctor._check_vpc_quota()
    assert row.name == "VPC quota" and not row.ok and row.optional  # reported, "Ready" still possible


def test_the_doctor_shows_the_quota_row_on_aws_only(monkeypatch, emulator_url, real_looking_credentials):
    from helpers.runtime import aws

    assert doctor._check_vpc_quota() is None  # the emulator has no quota to run into: no row
    monkeypatch.setenv("COURSE_TARGET", "aws")  # the emulator stands in for AWS's endpoints (boto3 honours it)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    monkeypatch.delenv("AWS_PROFILE")
    aws._client.cache_clear()
    try:
        row = doctor._check_vpc_quota()
    finally:
        aws._client.cache_clear()
    assert row.name == "VPC quota" and "of 5" in row.detail and "more course stack" in row.detail
    assert row.ok or "--quota-code L-F678F1CE" in row.fix, row  # full: the fix is the quota request


# --- The way to the traffic lab, per platform: issue 24 item 5 -------------------------------------------


@pytest.mark.parametrize(
    ("platform", "root", "userns", "way"),
    [
        ("linux", True, False, "this machine, as root"),
        ("linux", False, True, "this machine, rootless, in a user namespace of your own"),
        ("linux", False, False, "root on this machine (sudo make lab), the dev container, or the hub"),
        ("darwin", False, False, "dev container"),
        ("win32", False, False, "dev container"),
    ],
)
def test_the_doctor_names_the_way_to_the_lab_on_each_platform(platform, root, userns, way):
    said = doctor.lab_way(platform, root, userns)
    assert said.startswith("your way to the lab: ") and way in said
    if platform != "linux":
        assert "hub" in said and "Docker Desktop" in said


def test_on_macos_or_windows_the_lab_row_sends_the_learner_to_the_dev_container_or_the_hub(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    lab = doctor._check_lab()
    assert not lab.ok and lab.optional and "needs Linux" in lab.detail
    assert "dev container" in lab.fix and "hub" in lab.fix
    assert "Traffic lab" in doctor.report([lab]) and "Ready" in doctor.report([lab])  # optional: still ready


def test_on_this_linux_machine_the_lab_row_names_its_way():
    lab = doctor._check_lab()
    if not lab.ok:
        pytest.skip(f"the lab cannot run here: {lab.detail}")
    mode = "as root" if os.geteuid() == 0 else "rootless"
    assert f"your way to the lab: this machine, {mode}" in lab.detail
