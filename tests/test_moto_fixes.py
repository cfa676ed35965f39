"""Regression tests for helpers/moto_fixes.py: each fix, through the real server."""
from __future__ import annotations

from helpers import aws, terraform
from helpers.terraform import Terraform

BRIDGE_SERVICE = terraform.HEADER_HCL + """

resource "aws_ecs_cluster" "fix" {
  name = "course-fix-bridge"
}

resource "aws_ecs_task_definition" "fix" {
  family                   = "course-fix-bridge"
  network_mode             = "bridge"
  requires_compatibilities = ["EC2"]
  container_definitions = jsonencode([{
    name         = "nginx"
    image        = "nginx:1.25"
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
}
"""


def test_bridge_service_has_no_network_configuration(emulator_url):
    """AWS omits networkConfiguration outside awsvpc mode; moto 5.2 sent {}."""
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="course-fix-boto3")
    ecs.register_task_definition(
        family="course-fix-boto3", networkMode="bridge", requiresCompatibilities=["EC2"],
        containerDefinitions=[{"name": "nginx", "image": "nginx", "memory": 128,
                               "portMappings": [{"containerPort": 80, "hostPort": 0}]}])
    created = ecs.create_service(cluster="course-fix-boto3", serviceName="s",
                                 taskDefinition="course-fix-boto3", desiredCount=1, launchType="EC2")
    assert "networkConfiguration" not in created["service"]
    described = ecs.describe_services(cluster="course-fix-boto3", services=["s"])["services"][0]
    assert "networkConfiguration" not in described
    ecs.delete_service(cluster="course-fix-boto3", service="s", force=True)
    ecs.delete_cluster(cluster="course-fix-boto3")


def test_provider_can_create_and_read_a_bridge_mode_service(emulator_url):
    """Without the fix, provider 3.39 crashes (nil pointer) reading this service."""
    (terraform.stack_dir("fix-bridge") / "main.tf").write_text(BRIDGE_SERVICE)
    tf = Terraform("fix-bridge")
    created = tf.apply(skip_plan=True)
    assert created.added == 3
    assert tf.plan().code == 0  # reading it back works and shows no drift
    assert tf.destroy().destroyed == 3


def test_without_the_fix_the_provider_crashes_and_says_so(monkeypatch, tmp_path):
    """Negative control: plain moto (no fixes) still has the gap; the message names the crash.

    If this test starts failing because moto fixed the gap upstream, the fix
    in helpers/moto_fixes.py can go.
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
    plain = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=0.5)
                break
            except OSError:
                time.sleep(0.1)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        (terraform.stack_dir("fix-control") / "main.tf").write_text(
            BRIDGE_SERVICE.replace("course-fix-bridge", "course-fix-control"))
        with pytest.raises(CourseError) as info:
            Terraform("fix-control").apply(skip_plan=True)
        assert "the AWS provider crashed" in info.value.what
        assert "flattenEcsNetworkConfiguration" in info.value.detail
    finally:
        plain.terminate()
        plain.wait(timeout=10)
