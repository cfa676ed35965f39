"""Regression tests for helpers/runtime/moto_fixes.py: each fix, through the real server."""

from __future__ import annotations

from helpers.runtime import aws
from helpers.tf import state, toolchain
from helpers.tf.runner import Terraform

BRIDGE_SERVICE = (
    toolchain.HEADER_HCL.replace(
        'region = "us-east-1"',
        """region = "us-east-1"
  default_tags {
    tags = { course = "ecs-alb", learner = "unit-test" }
  }""",
    )
    + """

resource "aws_ecs_cluster" "fix" {
  name = "course-fix-bridge"
}

resource "aws_ecs_task_definition" "fix" {
  family                   = "course-fix-bridge"
  network_mode             = "bridge"
  requires_compatibilities = ["EC2"]
  container_definitions = jsonencode([{
    name         = "nginx"
    image        = "nginx:1.30-alpine"
    memory       = 128
    portMappings = [{ containerPort = 80, hostPort = 0 }]
  }])
}

resource "aws_ecs_service" "fix" {
  name            = "course-fix-bridge"
  cluster         = aws_ecs_cluster.fix.id
  task_definition = aws_ecs_task_definition.fix.arn
  desired_count   = 1
  launch_type     = "EC2"

  deployment_minimum_healthy_percent = 50
  deployment_maximum_percent         = 200

  ordered_placement_strategy {
    type  = "spread"
    field = "attribute:ecs.availability-zone"
  }
}

resource "aws_launch_template" "fix" {
  name_prefix   = "course-fix-"
  image_id      = "ami-12c6146b"
  instance_type = "t3.small"

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "course-fix-instance" }
  }
  tags = { Name = "course-fix" }
}
"""
)


def test_bridge_service_has_no_network_configuration(emulator_url):
    """AWS omits networkConfiguration outside awsvpc mode; moto 5.2 sent {}."""
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="course-fix-boto3")
    ecs.register_task_definition(
        family="course-fix-boto3",
        networkMode="bridge",
        requiresCompatibilities=["EC2"],
        containerDefinitions=[
            {"name": "nginx", "image": "nginx", "memory": 128, "portMappings": [{"containerPort": 80, "hostPort": 0}]}
        ],
    )
    created = ecs.create_service(
        cluster="course-fix-boto3", serviceName="s", taskDefinition="course-fix-boto3", desiredCount=1, launchType="EC2"
    )
    assert "networkConfiguration" not in created["service"]
    described = ecs.describe_services(cluster="course-fix-boto3", services=["s"])["services"][0]
    assert "networkConfiguration" not in described
    ecs.delete_service(cluster="course-fix-boto3", service="s", force=True)
    ecs.delete_cluster(cluster="course-fix-boto3")


def test_provider_reads_back_service_and_launch_template_without_diffs(emulator_url):
    """Re-plan after apply shows no changes (the course's every-notebook-re-runs rule).

    Without ecs_bridge_service_network_configuration provider 3.39 crashes reading
    the service; without ecs_service_placement the placement strategy is a
    perpetual diff; ecs_service_deployment_configuration returns the percentages as set; without ec2_launch_template_tag_specifications the tagged
    launch template (default_tags) is one.
    """
    (state.stack_dir("fix-bridge") / "main.tf").write_text(BRIDGE_SERVICE)
    tf = Terraform("fix-bridge")
    created = tf.apply(skip_plan=True)
    assert created.added == 4
    plan = tf.plan()
    assert plan.code == 0, plan.summary  # reading everything back shows no changes
    assert tf.destroy().destroyed == 4


def test_without_the_fix_the_provider_crashes_and_says_so(monkeypatch, tmp_path):
    """Negative control: plain moto (no fixes) still has the gap; the message names the crash.

    If this test starts failing because moto fixed the gap upstream, the fix
    in helpers/runtime/moto_fixes.py can go.
    """
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    import pytest

    from helpers.errors import CourseError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plain = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=0.5)
                break
            except OSError:
                time.sleep(0.1)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        (state.stack_dir("fix-control") / "main.tf").write_text(
            BRIDGE_SERVICE.replace("course-fix-bridge", "course-fix-control")
        )
        with pytest.raises(CourseError) as info:
            Terraform("fix-control").apply(skip_plan=True)
        assert "the AWS provider crashed" in info.value.what
        assert "flattenEcsNetworkConfiguration" in info.value.detail
    finally:
        plain.terminate()
        try:
            plain.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a busy machine: moto's server may sit on a request
            plain.kill()
            plain.wait(timeout=10)


# ---------------------------------------------------------------------------
# boto3-level regression tests, one per fix (fast: no provider waits)
# ---------------------------------------------------------------------------


def test_service_keeps_its_placement_strategy(emulator_url):
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="course-fix-placement")
    ecs.register_task_definition(
        family="course-fix-placement",
        networkMode="bridge",
        containerDefinitions=[{"name": "n", "image": "nginx", "memory": 64}],
    )
    strategy = [{"type": "spread", "field": "attribute:ecs.availability-zone"}]
    ecs.create_service(
        cluster="course-fix-placement",
        serviceName="s",
        taskDefinition="course-fix-placement",
        desiredCount=1,
        launchType="EC2",
        placementStrategy=strategy,
        placementConstraints=[{"type": "distinctInstance"}],
    )
    service = ecs.describe_services(cluster="course-fix-placement", services=["s"])["services"][0]
    assert service["placementStrategy"] == strategy
    assert service["placementConstraints"] == [{"type": "distinctInstance"}]
    ecs.delete_service(cluster="course-fix-placement", service="s", force=True)
    ecs.delete_cluster(cluster="course-fix-placement")


def test_service_keeps_its_health_check_grace_period(emulator_url):
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="course-fix-grace")
    ecs.register_task_definition(
        family="course-fix-grace",
        networkMode="bridge",
        containerDefinitions=[{"name": "n", "image": "nginx", "memory": 64}],
    )
    ecs.create_service(
        cluster="course-fix-grace",
        serviceName="s",
        taskDefinition="course-fix-grace",
        desiredCount=1,
        launchType="EC2",
        healthCheckGracePeriodSeconds=30,
    )
    service = ecs.describe_services(cluster="course-fix-grace", services=["s"])["services"][0]
    assert service["healthCheckGracePeriodSeconds"] == 30
    ecs.delete_service(cluster="course-fix-grace", service="s", force=True)
    ecs.delete_cluster(cluster="course-fix-grace")


def test_launch_template_data_does_not_get_the_template_tags(emulator_url):
    ec2 = aws.client("ec2")
    template = ec2.create_launch_template(
        LaunchTemplateName="course-fix-lt",
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "i"}]}],
        },
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "course", "Value": "ecs-alb"}]}],
    )["LaunchTemplate"]
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])[
        "LaunchTemplateVersions"
    ][0]["LaunchTemplateData"]
    assert [spec["ResourceType"] for spec in data["TagSpecifications"]] == ["instance"]
    assert {"Key": "course", "Value": "ecs-alb"} in template["Tags"]  # the template itself is still tagged
    ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])


def _vpc_with_two_subnets(ec2, cidr):
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    base = cidr.rsplit(".", 2)[0]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base}.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in ((1, "a"), (2, "b"))
    ]
    return vpc, subnets


def test_load_balancer_scheme_zone_and_dns_name_look_like_aws(emulator_url):
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    _, subnets = _vpc_with_two_subnets(ec2, "10.91.0.0/16")
    lb = elbv2.create_load_balancer(Name="course-fix-alb", Subnets=subnets, Type="application")["LoadBalancers"][0]
    assert lb["Scheme"] == "internet-facing"  # the provider sends no Scheme for internet-facing ALBs
    assert lb["CanonicalHostedZoneId"] == "Z35SXDOTRQ7X7K"  # us-east-1 ALBs, as in AWS's endpoint table
    host, domain = lb["DNSName"].split(".", 1)
    name, digits = host.rsplit("-", 1)
    assert (name, domain) == ("course-fix-alb", "us-east-1.elb.amazonaws.com") and digits.isdigit()
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])


def test_targets_are_kept_apart_by_instance_and_port(emulator_url):
    """ECS bridge mode: two tasks on one instance are two targets (same id, two ports)."""
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    vpc, subnets = _vpc_with_two_subnets(ec2, "10.92.0.0/16")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0])["Instances"][0][
        "InstanceId"
    ]
    group = elbv2.create_target_group(Name="course-fix-tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    elbv2.register_targets(
        TargetGroupArn=group, Targets=[{"Id": instance, "Port": 49153}, {"Id": instance, "Port": 49154}]
    )

    def ports():
        health = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
        return sorted((d["Target"]["Port"], d["HealthCheckPort"]) for d in health)

    assert ports() == [(49153, "49153"), (49154, "49154")]  # the port really probed, not "traffic-port"
    elbv2.deregister_targets(TargetGroupArn=group, Targets=[{"Id": instance, "Port": 49153}])
    assert ports() == [(49154, "49154")]
    # Not registered any more: AWS returns successfully (API_DeregisterTargets.html), and the others listed go.
    elbv2.deregister_targets(
        TargetGroupArn=group, Targets=[{"Id": instance, "Port": 49153}, {"Id": instance, "Port": 49154}]
    )
    assert ports() == []
    elbv2.delete_target_group(TargetGroupArn=group)
    ec2.terminate_instances(InstanceIds=[instance])


def test_referenced_security_group_has_its_owner(emulator_url):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.93.0.0/16")["Vpc"]["VpcId"]
    alb = ec2.create_security_group(GroupName="course-fix-alb", Description="x", VpcId=vpc)["GroupId"]
    instances = ec2.create_security_group(GroupName="course-fix-inst", Description="x", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=instances,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 32768,
                "ToPort": 65535,
                "UserIdGroupPairs": [{"GroupId": alb, "UserId": ""}],
            }
        ],
    )  # what provider 3.39 sends
    pair = ec2.describe_security_groups(GroupIds=[instances])["SecurityGroups"][0]["IpPermissions"][0][
        "UserIdGroupPairs"
    ][0]
    assert pair == {"GroupId": alb, "UserId": "123456789012"}


def test_new_zone_soa_record_is_a_plain_string(emulator_url):
    route53 = aws.client("route53")
    zone = route53.create_hosted_zone(Name="fix.course.example", CallerReference="course-fix-soa")["HostedZone"]
    records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    soa = next(r for r in records if r["Type"] == "SOA")["ResourceRecords"][0]["Value"]
    assert not soa.startswith("{") and " awsdns-hostmaster.amazon.com. " in soa
    route53.delete_hosted_zone(Id=zone["Id"])


def test_most_recent_ecs_ami_is_the_one_ssm_recommends(emulator_url):
    ec2, ssm = aws.client("ec2"), aws.client("ssm")
    for path, pattern in (
        ("amazon-linux-2023", "al2023-ami-ecs-hvm-*-x86_64"),
        ("amazon-linux-2", "amzn2-ami-ecs-hvm-*-x86_64-ebs"),
    ):
        recommended = ssm.get_parameter(Name=f"/aws/service/ecs/optimized-ami/{path}/recommended/image_id")[
            "Parameter"
        ]["Value"]
        images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": [pattern]}])["Images"]
        newest = max(images, key=lambda image: image["CreationDate"])
        assert newest["ImageId"] == recommended, path


def test_the_course_ami_lookup_finds_the_amazon_linux_2023_ecs_image(emulator_url):
    """terraform/ecs.tf reads the AL2023 ECS-optimized AMI from SSM (AL2's support ended 2026-06-30:
    https://aws.amazon.com/amazon-linux-2/faqs/); the emulator has the parameter and the image."""
    import re

    from helpers.workspace import REPO

    name = re.search(
        r'data "aws_ssm_parameter" "ecs_ami" \{\s*name\s*=\s*"([^"]+)"', (REPO / "terraform/ecs.tf").read_text()
    )
    assert name and name.group(1) == "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
    image_id = aws.client("ssm").get_parameter(Name=name.group(1))["Parameter"]["Value"]
    image = aws.client("ec2").describe_images(ImageIds=[image_id])["Images"][0]
    assert image["Name"].startswith("al2023-ami-ecs-hvm-") and image["Architecture"] == "x86_64"


def test_terminated_instance_leaves_no_network_interface(emulator_url):
    ec2 = aws.client("ec2")
    _, subnets = _vpc_with_two_subnets(ec2, "10.94.0.0/16")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0])["Instances"][0][
        "InstanceId"
    ]
    ec2.terminate_instances(InstanceIds=[instance])
    left = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnets[0]]}])
    assert left["NetworkInterfaces"] == []


def test_security_group_rules_with_impossible_ports_are_refused_like_aws(emulator_url):
    import botocore.exceptions
    import pytest

    ec2 = aws.client("ec2")
    group = ec2.create_security_group(GroupName="course-fix-ports", Description="port checks")["GroupId"]
    try:
        for low, high in ((70000, 70001), (40000, 32768), (-1, 80)):
            with pytest.raises(botocore.exceptions.ClientError) as info:
                ec2.authorize_security_group_ingress(
                    GroupId=group,
                    IpPermissions=[
                        {"IpProtocol": "tcp", "FromPort": low, "ToPort": high, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
                    ],
                )
            assert info.value.response["Error"]["Code"] == "InvalidPermission.Malformed"
        ec2.authorize_security_group_egress(
            GroupId=group,
            IpPermissions=[  # still accepted: AWS accepts them
                {"IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]},
                {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]},
            ],
        )
    finally:
        ec2.delete_security_group(GroupId=group)


def test_service_keeps_its_deployment_configuration(emulator_url):
    """The minimum/maximum percent and the circuit breaker come back as AWS returns them
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentConfiguration.html)."""
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="course-fix-deploy")
    ecs.register_task_definition(
        family="course-fix-deploy",
        networkMode="bridge",
        containerDefinitions=[{"name": "n", "image": "nginx", "memory": 64}],
    )
    breaker = {"enable": True, "rollback": True}
    ecs.create_service(
        cluster="course-fix-deploy",
        serviceName="s",
        taskDefinition="course-fix-deploy",
        desiredCount=1,
        launchType="EC2",
        deploymentConfiguration={"minimumHealthyPercent": 50, "deploymentCircuitBreaker": breaker},
    )
    ecs.create_service(
        cluster="course-fix-deploy", serviceName="plain", taskDefinition="course-fix-deploy", desiredCount=1
    )
    services = ecs.describe_services(cluster="course-fix-deploy", services=["s", "plain"])["services"]
    configured, plain = (s["deploymentConfiguration"] for s in services)
    assert configured == {"maximumPercent": 200, "minimumHealthyPercent": 50, "deploymentCircuitBreaker": breaker}
    assert plain == {"maximumPercent": 200, "minimumHealthyPercent": 100}, "AWS's defaults for a rolling update"
    ecs.update_service(cluster="course-fix-deploy", service="s", deploymentConfiguration={"maximumPercent": 150})
    updated = ecs.describe_services(cluster="course-fix-deploy", services=["s"])["services"][0]
    assert updated["deploymentConfiguration"]["maximumPercent"] == 150
    for name in ("s", "plain"):
        ecs.delete_service(cluster="course-fix-deploy", service=name, force=True)
    ecs.delete_cluster(cluster="course-fix-deploy")
