"""The Terraform toolchain: bundled executable, offline provider, streamed runs."""

from __future__ import annotations

import json
import subprocess

import pytest

from helpers.runtime import aws
from helpers.tf import override, state, toolchain
from helpers.tf.runner import Terraform

HELLO = (
    toolchain.HEADER_HCL
    + """

resource "aws_security_group" "probe" {
  name        = "%s"
  description = "unit test security group"
  tags = { course = "ecs-alb", purpose = "unit-test" }
}

output "id" {
  value = aws_security_group.probe.id
}
"""
)


def write_stack(stack: str, text: str):
    folder = state.stack_dir(stack)
    (folder / "main.tf").write_text(text)
    return folder


@pytest.mark.terraform  # terraform version
def test_executable_is_the_bundled_terraform():
    exe = toolchain.executable()
    out = subprocess.run(
        [str(exe), "version", "-json"], capture_output=True, text=True, env=toolchain.environment(), check=True
    ).stdout
    assert json.loads(out)["terraform_version"] == toolchain.TERRAFORM_VERSION


@pytest.mark.terraform  # terraform init and providers schema
def test_endpoint_list_matches_the_provider_schema(session_emulator):
    """Every endpoint the provider knows is overridden, so none can reach AWS."""
    write_stack("schema", HELLO % "unused")
    tf = Terraform("schema")
    tf.init()
    proc = subprocess.run(
        [str(toolchain.executable()), "providers", "schema", "-json"],
        cwd=tf.folder,
        capture_output=True,
        text=True,
        env=toolchain.environment(),
        check=True,
    )
    schema = json.loads(proc.stdout)["provider_schemas"][toolchain.PROVIDER]["provider"]["block"]
    keys = set(schema["block_types"]["endpoints"]["block"]["attributes"])
    assert keys == set(override.ENDPOINT_KEYS)
    assert "elb" in keys and "elbv2" not in keys  # provider 3.x: ALBs use the "elb" endpoint


def test_cli_config_uses_the_offline_mirror_on_linux_amd64():
    text = toolchain.cli_config("linux_amd64").read_text()
    assert "filesystem_mirror" in text and 'exclude = ["registry.terraform.io/hashicorp/aws"]' in text
    binary = toolchain.provider_mirror("linux_amd64").joinpath(
        "registry.terraform.io/hashicorp/aws/3.39.0/linux_amd64/terraform-provider-aws_v3.39.0_x5"
    )
    assert binary.stat().st_mode & 0o111, "the unpacked provider must be executable"


def test_platform_without_bundled_provider_falls_back_to_the_registry(capsys, monkeypatch):
    monkeypatch.setattr(toolchain, "_registry_notice_shown", False)
    text = toolchain.cli_config("darwin_arm64").read_text()
    assert "filesystem_mirror" not in text and "plugin_cache_dir" in text
    err = capsys.readouterr().err
    assert "no bundled AWS provider for darwin_arm64" in err and "internet" in err
    toolchain.cli_config()  # restore this machine's config for later tests


def test_apply_creates_what_boto3_then_sees_and_reapply_changes_nothing(emulator_url):
    write_stack("unit-apply", HELLO % "course-unit-apply")
    tf = Terraform("unit-apply")
    result = tf.apply(skip_plan=True)
    code, out, err = result  # still python-terraform's (code, stdout, stderr)
    assert code == 0 and result.added == 1
    assert result.resources == {"aws_security_group.probe": "create"}
    assert "+ aws_security_group.probe (created)" in result.summary
    group_id = result.outputs["id"]

    groups = aws.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert groups[0]["GroupName"] == "course-unit-apply"
    assert {"Key": "purpose", "Value": "unit-test"} in groups[0]["Tags"]

    again = tf.apply(skip_plan=True)
    assert (again.added, again.changed, again.destroyed) == (0, 0, 0), again[1]
    plan = tf.plan()
    assert plan.code == 0 and "No changes" in plan.summary

    gone = tf.destroy()
    assert gone.destroyed == 1 and gone.resources == {"aws_security_group.probe": "delete"}
    left = aws.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["course-unit-apply"]}]
    )["SecurityGroups"]
    assert left == []


def test_override_points_every_endpoint_at_the_emulator(emulator_url):
    folder = write_stack("unit-override", HELLO % "x")
    override.write_target_override(folder)
    provider = json.loads((folder / override.OVERRIDE_FILE).read_text())["provider"]["aws"]
    assert set(provider["endpoints"].values()) == {emulator_url}
    assert provider["access_key"] == "testing" and provider["skip_metadata_api_check"] is True


def test_plain_terraform_in_any_folder_reaches_the_emulator(emulator_url, tmp_path):
    """What the README shows: `eval "$(python -m helpers env)"`, `python -m helpers override DIR`,
    then plain `terraform init && terraform apply` in DIR; plain boto3 works in the same shell
    (it reads AWS_DEFAULT_REGION and AWS_ENDPOINT_URL, as the AWS CLI does, not AWS_REGION)."""
    import os
    import sys

    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "main.tf").write_text(HELLO % "course-unit-plain")
    (folder / "boto3_check.py").write_text(
        "import boto3\n"
        "groups = boto3.client('ec2').describe_security_groups(GroupNames=['course-unit-plain'])\n"
        "print('boto3 sees', len(groups['SecurityGroups']))\n"
    )
    script = (
        f'set -e\neval "$({sys.executable} -m helpers env)"\n'
        f"{sys.executable} -m helpers override {folder}\n"
        f"cd {folder}\nterraform version | head -n 1\nterraform init -input=false >/dev/null\n"
        'terraform apply -auto-approve -input=false -no-color | grep "Apply complete"\n'
        f"{sys.executable} boto3_check.py\n"
        "terraform destroy -auto-approve -input=false -no-color | tail -n 1\n"
    )
    shell_only = ("TF_CLI_CONFIG_FILE", "CHECKPOINT_DISABLE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL")
    env = {k: v for k, v in os.environ.items() if k not in shell_only}
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Terraform v{toolchain.TERRAFORM_VERSION}" in proc.stdout  # the bundled one, whatever else is on PATH
    assert "Apply complete! Resources: 1 added" in proc.stdout
    assert "boto3 sees 1" in proc.stdout, "boto3 in that shell has its region and the emulator's endpoint"
    assert "Destroy complete! Resources: 1 destroyed." in proc.stdout
    assert (folder / override.OVERRIDE_FILE).exists()
