"""Targets: the emulator by default, real AWS only on purpose, and nothing leaks."""

from __future__ import annotations

import boto3
import pytest

from helpers.errors import CourseError
from helpers.runtime import aws, cloud
from helpers.tf import override, state, toolchain
from helpers.tf.runner import Terraform

LEAK_CHECK_STACK = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "3.39.0" }
  }
}
provider "aws" {
  region      = "us-east-1"
  max_retries = 1 # the control below must fail fast, not retry for minutes
}
data "aws_caller_identity" "me" {}
resource "aws_security_group" "leak" {
  name        = "course-leak-check"
  description = "proves the provider only talks to the emulator"
}
output "account" {
  value = data.aws_caller_identity.me.account_id
}
"""


def test_default_target_is_the_emulator(monkeypatch):
    monkeypatch.delenv("COURSE_TARGET", raising=False)
    assert cloud.current() == "emulator"


def test_terraform_never_leaves_loopback_even_with_real_credentials(
    real_looking_credentials, proxy_recorder, emulator_url
):
    env = toolchain.environment()
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_PROFILE" not in env
    (state.stack_dir("leak-check") / "main.tf").write_text(LEAK_CHECK_STACK)
    tf = Terraform("leak-check")
    result = tf.apply(skip_plan=True)
    assert result.outputs["account"] == cloud.EMULATOR_ACCOUNT  # answered by the emulator
    tf.destroy()
    assert proxy_recorder == []  # no request went anywhere but loopback


def test_aws_target_uses_a_normal_provider_configuration(monkeypatch, no_aws_credentials):
    monkeypatch.setenv("COURSE_TARGET", "aws")
    folder = state.stack_dir("aws-target")
    (folder / override.OVERRIDE_FILE).write_text("{}")
    override.write_target_override(folder)
    assert not (folder / override.OVERRIDE_FILE).exists()  # no endpoints, no dummy keys
    assert aws.endpoint_url() is None


def test_saved_target_choice_and_env_override(monkeypatch):
    monkeypatch.delenv("COURSE_TARGET", raising=False)
    try:
        cloud.use("aws")
        assert cloud.current() == "aws"
        monkeypatch.setenv("COURSE_TARGET", "emulator")
        assert cloud.current() == "emulator"
    finally:
        cloud.use("emulator")


@pytest.mark.skipif(
    boto3.Session().get_credentials() is None, reason="real AWS credentials are not present (CI never has them)"
)
def test_aws_target_names_account_and_region_before_anything(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_TARGET", "aws")
    if not (boto3.Session().region_name):
        monkeypatch.setenv("AWS_REGION", "us-east-1")
    info = aws.require_credentials()
    out = capsys.readouterr().out
    assert info["account"] in out and info["region"] in out and "cost money" in out


@pytest.mark.terraform  # terraform plan
def test_proxy_recorder_does_catch_requests_to_aws(monkeypatch, real_looking_credentials, proxy_recorder):
    """Control for the test above: on the aws target the same stack does try AWS
    (and the recorder, standing in for the internet, refuses it)."""
    monkeypatch.setenv("COURSE_TARGET", "aws")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    # Skip the helpers' own STS banner call so that what the recorder sees comes from Terraform.
    monkeypatch.setattr(aws, "require_credentials", lambda: {"account": "?", "region": "us-east-1"})
    (state.stack_dir("leak-control") / "main.tf").write_text(LEAK_CHECK_STACK)
    with pytest.raises(CourseError):
        Terraform("leak-control").plan(refresh="false")
    assert any("amazonaws.com" in line for line in proxy_recorder), proxy_recorder


def test_aws_endpoint_url_replaces_the_workspace_emulator(emulator_url, other_workspace, monkeypatch):
    """AWS_ENDPOINT_URL (e.g. an instructor's emulator) is used instead of starting one."""
    from helpers.runtime import emulator

    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)  # the session's emulator, not this workspace's
    assert aws.client("sts").get_caller_identity()["Account"] == cloud.EMULATOR_ACCOUNT
    folder = state.stack_dir("endpoint-url")
    override.write_target_override(folder)
    assert emulator_url in (folder / override.OVERRIDE_FILE).read_text()
    assert emulator.status()["running"] is False  # no second emulator was started
