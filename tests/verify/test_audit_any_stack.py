"""The audit on a stack the course did not build: no course tags, no course variables.

The stack is the source article's published design, made with plain boto3: the ALB's group opens
80, 443, 22 and 32768-65535 to the world, and the instances accept every protocol from the ALB's group.
One instance is a registered target; the other is found only as a container instance of the ECS
service that registers in the load balancer's target group.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import audit
from helpers.errors import CourseError
from helpers.runtime import aws

NAME = "article-alb"
ANYWHERE = [{"CidrIp": "0.0.0.0/0"}]


@pytest.fixture(scope="module")
def article_stack():
    from helpers.runtime import emulator

    emulator.ensure()
    ec2, elbv2, ecs, ssm = (aws.client(n) for n in ("ec2", "elbv2", "ecs", "ssm"))
    made = {}
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{n}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for n, zone in ((1, "us-east-1a"), (2, "us-east-1b"))
    ]
    alb_sg = ec2.create_security_group(GroupName="article-alb", Description="article alb", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=alb_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": p, "ToPort": q, "IpRanges": ANYWHERE}
            for p, q in ((80, 80), (443, 443), (22, 22), (32768, 65535))
        ],
    )
    instance_sg = ec2.create_security_group(GroupName="article-ecs", Description="article ecs", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=instance_sg, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": alb_sg}]}]
    )
    image = ssm.get_parameter(Name="/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id")
    instances = ec2.run_instances(
        ImageId=image["Parameter"]["Value"],
        MinCount=2,
        MaxCount=2,
        InstanceType="t3.micro",
        SubnetId=subnets[0],
        SecurityGroupIds=[instance_sg],
    )["Instances"]
    registered, behind_ecs = (i["InstanceId"] for i in instances)
    lb = elbv2.create_load_balancer(Name=NAME, Subnets=subnets, SecurityGroups=[alb_sg])["LoadBalancers"][0]
    tg = elbv2.create_target_group(Name="article-web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": registered, "Port": 32768}])
    ecs.create_cluster(clusterName="article")
    ecs.register_container_instance(
        cluster="article", instanceIdentityDocument=json.dumps({"instanceId": behind_ecs, "region": "us-east-1"})
    )
    ecs.register_task_definition(
        family="article-web",
        networkMode="bridge",
        containerDefinitions=[{"name": "web", "image": "nginx", "memory": 64, "portMappings": [{"containerPort": 80}]}],
    )
    ecs.create_service(
        cluster="article",
        serviceName="web",
        taskDefinition="article-web",
        desiredCount=1,
        loadBalancers=[{"targetGroupArn": tg_arn, "containerName": "web", "containerPort": 80}],
    )
    quiet = elbv2.create_load_balancer(Name="article-quiet", Subnets=subnets, SecurityGroups=[alb_sg])
    nlb = elbv2.create_load_balancer(Name="article-nlb", Subnets=subnets, Type="network")
    made.update(
        lb=lb,
        registered=registered,
        behind_ecs=behind_ecs,
        alb_sg=alb_sg,
        instance_sg=instance_sg,
        quiet=quiet["LoadBalancers"][0],
        nlb=nlb["LoadBalancers"][0],
    )
    yield made
    ecs.delete_service(cluster="article", service="web", force=True)
    for arn in ecs.list_container_instances(cluster="article")["containerInstanceArns"]:
        ecs.deregister_container_instance(cluster="article", containerInstance=arn, force=True)
    ecs.delete_cluster(cluster="article")
    for balancer in (lb, made["quiet"], made["nlb"]):
        elbv2.delete_load_balancer(LoadBalancerArn=balancer["LoadBalancerArn"])
    elbv2.delete_target_group(TargetGroupArn=tg_arn)
    ec2.terminate_instances(InstanceIds=[registered, behind_ecs])
    for group in (instance_sg, alb_sg):
        ec2.delete_security_group(GroupId=group)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


def test_an_untagged_load_balancer_is_audited_by_name_with_every_hole_of_the_article(article_stack):
    report = audit.run(load_balancer=NAME)
    assert report.title == f"Reachability audit of load balancer {NAME}"
    texts = [f"{f.severity}: {f.what}" for f in report.findings]
    assert any(t.startswith("medium:") and "22" in t and "whole internet" in t for t in texts), texts
    assert any(t.startswith("medium:") and "32768-65535" in t and "whole internet" in t for t in texts), texts
    assert any("the instances accept every protocol and port from the ALB: all traffic from sg-" in t for t in texts), (
        texts
    )
    by_arn = audit.run(load_balancer=article_stack["lb"]["LoadBalancerArn"])
    assert [f.what for f in by_arn.findings] == [f.what for f in report.findings], "a name or an ARN, same audit"


def test_the_instances_are_found_from_targets_and_from_ecs_services_not_from_tags(article_stack):
    snapshot = audit.collect(load_balancer=NAME)
    (entry,) = snapshot["load_balancers"]
    assert entry["instance_ids"] == sorted([article_stack["registered"], article_stack["behind_ecs"]])
    assert set(snapshot["instances"]) == set(entry["instance_ids"])
    assert snapshot["instances"][article_stack["behind_ecs"]]["security_groups"] == [article_stack["instance_sg"]]


def test_all_audits_every_alb_and_says_what_it_left_out(article_stack):
    report = audit.run(every_balancer=True)
    assert "every Application Load Balancer in us-east-1" in report.title
    infos = [f.what for f in report.findings if f.severity == "info"]
    assert any("article-nlb" in t and "not Application Load Balancers" in t for t in infos), infos
    assert any("article-quiet has no listener" in t for t in infos), infos


@pytest.mark.parametrize(
    ("which", "words"),
    [
        ("no-such-alb", ("No load balancer named 'no-such-alb'", "article-alb")),
        ("article-nlb", ("article-nlb is a network load balancer", "Application Load Balancers only")),
        ("article-quiet", ("article-quiet has no listener", "add a listener")),
    ],
)
def test_bad_load_balancer_choices_get_one_clear_message(article_stack, which, words):
    with pytest.raises(CourseError) as info:
        audit.run(load_balancer=which)
    assert all(w in info.value.render() for w in words), info.value.render()


def test_the_command_audits_any_alb_with_json_and_exit_codes(article_stack):
    env_run = [sys.executable, "-m", "helpers", "audit"]
    result = subprocess.run([*env_run, "--load-balancer", NAME, "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr  # medium findings only: exit 0, as for the course's audit
    document = json.loads(result.stdout)
    assert document["title"] == f"Reachability audit of load balancer {NAME}"
    assert {f["severity"] for f in document["findings"]} >= {"medium"}
    unknown = subprocess.run([*env_run, "--load-balancer", "nope"], capture_output=True, text=True, timeout=120)
    assert unknown.returncode != 0 and "No load balancer named 'nope'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    both = subprocess.run([*env_run, "--all", "--learner", "x"], capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_nothing_of_the_course_to_audit_names_the_load_balancers_that_are_there(article_stack):
    # The region holds the article's load balancers, none tagged for the course: the audit of the
    # course's stack finds nothing, says so, and says which options audit the others.
    report = audit.run(learner="nobody")
    assert report.ok  # nothing of the course is broken: exit code 0
    (note,) = [f for f in report.findings if f.severity == "info" and "nothing to audit" in f.what]
    assert "no load balancer of this course (learner nobody) in us-east-1" in note.what
    assert all(name in note.what for name in (NAME, "article-quiet", "article-nlb")), note.what
    assert "python -m helpers audit --all" in note.fix and "--load-balancer NAME" in note.fix
    shown = subprocess.run(
        [sys.executable, "-m", "helpers", "audit", "--learner", "nobody"], capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    assert "nothing to audit" in shown.stdout and "python -m helpers audit --all" in shown.stdout
