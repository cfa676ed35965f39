"""Real-AWS guard rails: loopback by default, a cost banner before the first apply on AWS, a leftovers finder.

No test here reaches AWS. Where the aws target is exercised, the session's emulator stands in for AWS's
endpoints through AWS_ENDPOINT_URL (boto3 honours it; the helpers then behave exactly as on AWS), and the
Terraform provider, which ignores that variable, is sent through a recording proxy on loopback that
refuses everything (tests/runtime/test_cloud.py's fixtures).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from helpers import workspace
from helpers.cli import main
from helpers.course import costs, inventory
from helpers.errors import CourseError
from helpers.runtime import aws, cloud
from helpers.tf import standalone
from helpers.tf.runner import Terraform
from helpers.tf.state import stack_dir

REPO = workspace.REPO


@pytest.fixture(autouse=True)
def fresh_banners(monkeypatch):
    monkeypatch.setattr(costs, "_announced", set())
    monkeypatch.setattr(aws, "_confirmed", {})


@pytest.fixture
def aws_stand_in(monkeypatch, emulator_url, real_looking_credentials):  # noqa: F811
    """The aws target, with the session's emulator answering boto3 in AWS's place."""
    monkeypatch.setenv("COURSE_TARGET", "aws")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    monkeypatch.delenv("AWS_PROFILE")  # the fixture's profile does not exist on this machine
    aws._client.cache_clear()
    yield emulator_url
    aws._client.cache_clear()


# --- 1. By default nothing leaves loopback -----------------------------------------------------------


def test_default_target_keeps_every_helper_on_loopback(
    real_looking_credentials,
    loopback_only,
    emulator_url,  # noqa: F811
    capsys,
):
    assert cloud.current() == "emulator"
    assert aws.require_credentials()["account"] == cloud.EMULATOR_ACCOUNT
    inventory.leftovers("nobody")
    assert main(["leftovers", "--learner", "nobody"]) == 0
    assert loopback_only == [], f"connections outside loopback: {loopback_only}"
    assert "Cost on real AWS" not in capsys.readouterr().out  # the emulator is free: no banner


# --- 2. The cost banner ----------------------------------------------------------------------------


def test_cost_banner_states_list_prices_for_the_course_defaults():
    text = costs.banner(costs.stack_settings())
    assert "us-east-1 list prices" in text
    assert "Application Load Balancer" in text and "$0.0225/hour + $0.008 per LCU-hour" in text
    assert "1 x t3.micro instance " in text and "$0.0104/hour each" in text
    assert "3 public IPv4 addresses" in text and "$0.005/hour each" in text
    assert "Route 53 hosted zone" in text and "$0.50 per month" in text
    assert "About $0.059 per hour ($1.42 per day)" in text  # 0.0225 + 0.008 + 0.0104 + 30 x 0.08 / 730 + 3 x 0.005
    assert "1 x 30 GiB gp3 root volume" in text
    for page in ("elasticloadbalancing/pricing", "ec2/pricing/on-demand", "vpc/pricing", "route53/pricing"):
        assert f"https://aws.amazon.com/{page}/" in text
    assert "10-teardown.ipynb" in text


def test_the_aws_run_line_in_readme_and_notebook_00_is_the_cost_models():
    # One fact, one source: costs.aws_run_line() (AWS_WAITS, and an hour of the stack's list prices).
    minutes, dollars = costs.aws_run()
    assert minutes == 5 * -(-sum(m for _, m, _ in costs.AWS_WAITS) // 5)  # rounded up to 5 minutes
    assert dollars == pytest.approx(0.0592, abs=1e-4)  # the banner's $0.059 per hour, for the one hour
    line = costs.aws_run_line()
    assert line == f"On real AWS: about {minutes} minutes and about ${dollars:.2f} if torn down the same hour."
    readme = (REPO / "README.md").read_text()
    setup = json.loads((REPO / "notebooks" / "00-setup.ipynb").read_text())
    markdown = ["".join(c["source"]) for c in setup["cells"] if c["cell_type"] == "markdown"]
    assert line in " ".join(readme.split()), "README.md's line differs from costs.aws_run_line()"
    assert any(line in " ".join(cell.split()) for cell in markdown), "00-setup's line differs from aws_run_line()"


def test_course_defaults_are_read_from_terraform_variables():
    text = (REPO / "terraform" / "variables.tf").read_text()
    assert re.search(r'variable "instance_type" \{.*?default\s*=\s*"t3\.micro"', text, re.S)
    assert costs.stack_settings()["instance_type"] == "t3.micro" and costs.stack_settings()["instance_count"] == 1


def test_cost_banner_follows_the_stacks_variables(tmp_path):
    (tmp_path / "variables.tf").write_text(
        (REPO / "terraform" / "variables.tf")
        .read_text()
        .replace('default     = "t3.micro"', 'default     = "t3.small"')
    )
    (tmp_path / "terraform.tfvars").write_text('instance_count = 3\nhosted_zone_id = "Z0123456789ABCDEFGHIJ"\n')
    settings = costs.stack_settings(tmp_path)
    assert settings == {
        "instance_type": "t3.small",
        "instance_count": 3,
        "creates_zone": False,
        "source": "this stack's variables",
    }
    text = costs.banner(costs.stack_settings(tmp_path, {"instance_type": "t3.medium"}))  # the cell's var= wins
    assert "3 x t3.medium instances" in text and "5 public IPv4 addresses" in text
    assert "Route 53 hosted zone" not in text  # an existing zone: the stack creates none
    assert "About $0.190 per hour" in text  # 0.0225 + 0.008 + 3 x (0.0416 + 30 x 0.08 / 730) + 5 x 0.005 = 0.1902


def test_cost_banner_admits_an_unknown_instance_type():
    text = costs.banner({"instance_type": "m7i.large", "instance_count": 1, "creates_zone": True, "source": "x"})
    assert "not in the course's price table: see the EC2 pricing page" in text
    assert "About $" not in text  # no made-up total


def test_aws_target_names_account_region_and_cost_before_the_first_apply(
    aws_stand_in,
    proxy_recorder,
    capsys,  # noqa: F811
    monkeypatch,
):
    # boto3 (account banner) goes straight to the stand-in on loopback; the provider's requests to
    # *.amazonaws.com still go to the recorder, which refuses them.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    folder = stack_dir("cost-banner")
    (folder / "main.tf").write_text("""
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "3.39.0" }
  }
}
provider "aws" {
  region      = "us-east-1"
  max_retries = 1
}
variable "instance_type" {
  type    = string
  default = "t3.small"
}
variable "instance_count" {
  type    = number
  default = 2
}
resource "aws_security_group" "cost" {
  name = "course-cost-banner"
}
""")
    with pytest.raises(CourseError) as info:  # the provider cannot reach AWS: the recorder refuses it
        Terraform("cost-banner").apply(skip_plan=True)
    assert info.value.what.startswith("terraform apply failed"), info.value.render()  # in Terraform, after the banner
    captured = capsys.readouterr()
    out = captured.out
    assert f"account {cloud.EMULATOR_ACCOUNT}, region us-east-1" in out
    assert "2 x t3.small instances" in out and "$0.0208/hour each" in out
    assert out.index("Target: real AWS") < out.index("Cost on real AWS")
    assert "terraform apply · stack cost-banner" in captured.err  # Terraform started only after the banner
    assert any("amazonaws.com" in line for line in proxy_recorder)  # it was the aws target indeed
    assert "course-cost-banner" not in json.dumps(aws.client("ec2").describe_security_groups()["SecurityGroups"])
    assert costs.announce(folder) is None  # once per settings: the next plan or apply does not repeat it


# --- 3. The leftovers finder -----------------------------------------------------------------------


def _plant(learner: str) -> dict:
    """Resources of several services tagged as the course tags them, made with boto3 on the emulator."""
    tags = [{"Key": "course", "Value": "ecs-alb"}, {"Key": "learner", "Value": learner}]
    lower = [{"key": t["Key"].lower(), "value": t["Value"]} for t in tags]
    ec2, ecs, iam, logs = (aws.client(s) for s in ("ec2", "ecs", "iam", "logs"))
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}])["Vpc"]
    group = ec2.create_security_group(
        GroupName=f"ecs-alb-{learner}-x",
        Description="leftover",
        VpcId=vpc["VpcId"],
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
    )
    ecs.create_cluster(clusterName=f"ecs-alb-{learner}", tags=lower)
    definition = ecs.register_task_definition(
        family=f"ecs-alb-{learner}-web",
        tags=lower,
        containerDefinitions=[{"name": "nginx", "image": "nginx", "memory": 64}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=f"ecs-alb-{learner}", serviceName="web", taskDefinition=definition, desiredCount=0, tags=lower
    )
    iam.create_instance_profile(InstanceProfileName=f"ecs-alb-{learner}-instance", Tags=tags)
    logs.create_log_group(logGroupName=f"/ecs/ecs-alb-{learner}-web", tags={t["Key"]: t["Value"] for t in tags})
    return {"vpc": vpc["VpcId"], "group": group["GroupId"], "definition": definition}


def _remove(learner: str, made: dict) -> None:
    ec2, ecs, iam, logs = (aws.client(s) for s in ("ec2", "ecs", "iam", "logs"))
    ecs.delete_service(cluster=f"ecs-alb-{learner}", service="web", force=True)
    ecs.delete_cluster(cluster=f"ecs-alb-{learner}")
    ecs.deregister_task_definition(taskDefinition=made["definition"])
    iam.delete_instance_profile(InstanceProfileName=f"ecs-alb-{learner}-instance")
    logs.delete_log_group(logGroupName=f"/ecs/ecs-alb-{learner}-web")
    ec2.delete_security_group(GroupId=made["group"])
    ec2.delete_vpc(VpcId=made["vpc"])


def test_leftovers_command_lists_what_is_tagged_then_nothing(emulator_url, loopback_only, capsys):
    learner = "lo" + uuid.uuid4().hex[:6]  # this test's resources only, whatever else the emulator holds
    made = _plant(learner)
    try:
        assert main(["leftovers", "--learner", learner]) == 1
        out = capsys.readouterr().out
        assert f"tagged course=ecs-alb (learner {learner}) in the emulator" in out
        for line in (
            f"VPC: {made['vpc']}",
            f"security group: {made['group']}",
            f"ECS cluster: ecs-alb-{learner}",
            f"ECS service: ecs-alb-{learner}/web",
            f"ECS task definition: ecs-alb-{learner}-web:1",
            f"IAM instance profile: ecs-alb-{learner}-instance",
            f"log group: /ecs/ecs-alb-{learner}-web",
        ):
            assert f"  {line}\n" in out, f"{line!r} missing from:\n{out}"
        assert "10-teardown.ipynb" in out
        assert main(["leftovers", "--learner", "someoneelse"]) == 0  # another learner's view is empty
    finally:
        _remove(learner, made)
    assert main(["leftovers", "--learner", learner]) == 0
    assert f"Nothing tagged course=ecs-alb (learner {learner})" in capsys.readouterr().out
    assert loopback_only == []


def test_leftovers_on_the_aws_target_names_the_account_first(aws_stand_in, capsys):
    learner = "la" + uuid.uuid4().hex[:6]
    made = _plant(learner)
    try:
        assert main(["leftovers", "--learner", learner]) == 1
    finally:
        _remove(learner, made)
    out = capsys.readouterr().out
    assert out.index(f"Target: real AWS — account {cloud.EMULATOR_ACCOUNT}, region us-east-1") < out.index(
        f"in AWS account {cloud.EMULATOR_ACCOUNT}, region us-east-1"
    )
    assert f"VPC: {made['vpc']}" in out


def test_leftovers_without_a_running_emulator_starts_nothing(other_workspace, capsys):
    from helpers.runtime import emulator

    assert main(["leftovers"]) == 0
    assert "The emulator is not running, so it holds nothing" in capsys.readouterr().out
    assert emulator.status()["running"] is False


def test_leftovers_says_which_permission_is_missing(monkeypatch):
    import botocore.exceptions

    def denied(learner):
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: iam:ListRoles"}}, "ListRoles"
        )
        yield  # a generator, like the real sources

    monkeypatch.setattr(inventory, "SOURCES", (denied,))
    monkeypatch.setitem(inventory.SERVICES, denied, "IAM")
    with pytest.raises(CourseError) as info:
        inventory.leftovers()
    assert "IAM" in info.value.what and "iam:ListRoles" in info.value.why and "ReadOnlyAccess" in info.value.fix


def test_every_tagged_resource_type_of_the_course_is_searched(tmp_path):
    """Each resource type in terraform/ that takes tags in provider 3.39 has a kind in inventory.KINDS."""
    folder = standalone.prepare(tmp_path / "schema")
    init = standalone.terraform(folder, "init", "-input=false", "-no-color", timeout=600)
    assert init.returncode == 0, init.stdout + init.stderr
    schema = standalone.terraform(folder, "providers", "schema", "-json", timeout=600)
    assert schema.returncode == 0, schema.stderr
    resources = json.loads(schema.stdout)["provider_schemas"]["registry.terraform.io/hashicorp/aws"]["resource_schemas"]
    used = {
        t for p in (REPO / "terraform").glob("*.tf") for t in re.findall(r'^resource "([^"]+)"', p.read_text(), re.M)
    }
    tagged = {t for t in used if "tags" in resources[t]["block"].get("attributes", {})}
    assert tagged == set(inventory.KINDS), (
        f"not searched: {sorted(tagged - set(inventory.KINDS))}; "
        f"not in terraform/: {sorted(set(inventory.KINDS) - tagged)}"
    )
    searched = Path(inventory.__file__).read_text().split("KINDS = {")[0]
    for kind in set(inventory.KINDS.values()):
        assert f'"{kind}"' in searched, f"no source in helpers/course/inventory.py reports {kind!r}"
