"""The exercise notebooks: generated from the solutions, runnable half-done, and checked with specific feedback.

Fast checks first: the committed exercises are what the solutions give now;
a vanished match stops generation loudly; blanks never write a file or run
code; every check names each wrong configuration and accepts the right one
(boto3-shaped data built by hand). Then the executed run (tests/support/exercise_support.py,
started in the background by tests/plugin/session.py): every exercise as committed runs
top to bottom without an error and each check says "not done yet", and
exercises 02 to 07 filled in with the solution say "✓ done"; with the traffic lab,
exercise 07 filled in sends the real requests and sees the 504, the 503 and the 200.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from helpers import exercise as ec
from helpers.course import notebook
from helpers.errors import CourseError
from helpers.exercises import generator, spec
from helpers.tf import hcl
from tests.hygiene.test_notebook_hygiene import ABSOLUTE_PATH, SECTIONS
from tests.support import exercise_support

ALB_SG, OTHER_SG = "sg-0a1b2c3d4e5f60001", "sg-0a1b2c3d4e5f60002"


def test_committed_exercises_are_what_the_solutions_give():
    stale = generator.generate(check=True)
    assert stale == [], f"out of date, run `python -m helpers exercises`: {stale}"


def test_generation_is_idempotent_and_keeps_the_solution_s_hcl_apart_from_the_blanks():
    for exercise in generator.SPEC:
        assert generator.render(exercise) == generator.render(exercise)
        filled = generator.build(exercise, filled=True)
        assert not any(hcl.BLANK.search(c.source) for c in filled.cells if c.cell_type == "code")


def test_a_solution_line_that_disappears_stops_generation_with_the_entry_to_fix():
    broken = generator.Exercise(
        "03-alb-security-group",
        blanks=(generator.Blank("from_port = 4430", "x"),),
        replace={"open_to_internet = sg_rules": generator.CHECK},
    )
    with pytest.raises(CourseError) as error:
        generator.build(broken)
    assert "0 lines contain 'from_port = 4430'" in error.value.what
    assert "SPEC in helpers/exercises/spec.py" in error.value.fix
    ambiguous = generator.Exercise(
        "03-alb-security-group",
        blanks=(generator.Blank('protocol          = "tcp"', "x"),),
        replace={"open_to_internet = sg_rules": generator.CHECK},
    )
    with pytest.raises(CourseError, match="3 lines contain"):
        generator.build(ambiguous)


def test_generation_keeps_the_lab_cells_and_no_prose_about_a_cell_left_out():
    """Issue 27, item 8: a SPEC that leaves out a lab cell, or the cell an explanation introduces, stops generation
    (and so ``python -m helpers exercises --check``) with the entry to fix."""
    lockdown = next(e for e in generator.SPEC if e.notebook == "07-lock-down-the-instances")
    without_the_504 = dataclasses.replace(lockdown, drop=(*lockdown.drop, "reply = lab.curl_until(site, 504"))
    with pytest.raises(CourseError, match="the exercises keep the lab's demonstration cells"):
        generator.build(without_the_504)
    replacing_the_200 = dataclasses.replace(lockdown, replace={**lockdown.replace, "targets.healthy, sep=": "1"})
    with pytest.raises(CourseError, match="takes out a lab cell"):
        generator.build(replacing_the_200)
    prose_kept = dataclasses.replace(
        lockdown, drop=tuple(d for d in lockdown.drop if not d.startswith("And the audit, over the same live state"))
    )
    with pytest.raises(CourseError, match="introduces a cell that the exercise leaves out") as error:
        generator.build(prose_kept)
    assert "has nothing left to report:" in error.value.what


@pytest.mark.parametrize("exercise", generator.SPEC, ids=lambda e: e.notebook)
def test_exercises_keep_every_lab_cell_of_their_solution(exercise):
    import nbformat

    solution = nbformat.read(generator.SOLUTIONS / f"{exercise.notebook}.ipynb", as_version=4)
    lab_cells = [c.source for c in solution.cells if c.cell_type == "code" and generator.LAB_CELL in c.source]
    committed = json.loads(generator.path(exercise).read_text())
    code = ["".join(c["source"]) for c in committed["cells"] if c["cell_type"] == "code"]
    assert all(cell in code for cell in lab_cells), f"{exercise.notebook}: a lab cell is missing"
    if exercise.notebook in ("07-lock-down-the-instances", "08-dns"):
        assert len(lab_cells) >= {"07-lock-down-the-instances": 5, "08-dns": 1}[exercise.notebook]


@pytest.mark.parametrize("exercise", generator.SPEC, ids=lambda e: e.notebook)
def test_exercise_notebooks_have_the_anatomy_blanks_hints_a_check_and_no_outputs(exercise):
    path = generator.path(exercise)
    raw = path.read_text()
    nb = json.loads(raw)
    markdown = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert markdown[0].startswith(f"# Exercise {exercise.notebook[:2]} · ") and "---" in markdown[0]
    assert f"](../{exercise.notebook}.ipynb)" in markdown[1], "the note links the solution"
    text = "\n".join(markdown)
    positions = [text.find(section) for section in SECTIONS]
    assert -1 not in positions and positions == sorted(positions), "the anatomy of every notebook"
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    blanks = [line for source in code for line in source.splitlines() if hcl.BLANK.search(line)]
    assert len(blanks) == len(exercise.blanks) and all(_hint_of(source, line) for source in code for line in blanks)
    assert code.count(f"exercise.{spec.check_of(exercise)}()") >= 1
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, "learners produce the outputs"
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}
    assert not ABSOLUTE_PATH.search(raw)
    assert "](../diagrams/" not in raw and '"../diagrams/' not in raw, "paths are one folder deeper"


def _hint_of(source: str, blank: str) -> str:
    """The hint of a blank line: after it on the same line, or on the comment lines just above it (a long one)."""
    lines = source.splitlines()
    if blank not in lines:
        return "-"  # not in this cell
    n = lines.index(blank)
    if "# hint: " in blank:
        return blank.split("# hint: ", 1)[1]
    above = []  # the comment lines just above, up to the one that starts the hint
    while n > 0 and lines[n - 1].lstrip().startswith("#"):
        n -= 1
        above.insert(0, lines[n].strip().lstrip("#").strip())
        if above[0].startswith("hint: "):
            return " ".join(above).removeprefix("hint: ")
    return ""


@pytest.mark.terraform  # terraform fmt checks each cell
def test_an_hcl_cell_with_blanks_writes_nothing_and_names_the_line(tmp_path):
    (tmp_path / "sg.tf").write_text("# the learner's last good version\n")
    report = notebook.write_cell(
        "course/sg.tf", 'resource "x" "y" {\n  from_port = ____  # hint: h\n}\n', folder=tmp_path
    )
    assert report.startswith("✗ Not saved: fill in the blank (____) on line 3 of this cell first")
    assert (tmp_path / "sg.tf").read_text() == "# the learner's last good version\n"
    assert notebook.pending_blanks() == ["course/sg.tf (cell line 3)"]
    report = notebook.write_cell("course/sg.tf", 'resource "x" "y" {\n  from_port = 443\n}\n', folder=tmp_path)
    assert report.startswith("Saved") and notebook.pending_blanks() == []


def test_a_python_cell_with_blanks_prints_the_line_instead_of_failing():
    lines = ["group = ec2.____(GroupIds=[group_id])  # hint: h\n", "print(group)\n"]
    transformed = notebook.skip_python_with_blanks(lines)
    assert len(transformed) == 1 and transformed[0].startswith("print(")
    assert "fill in the blank (____) on line 1" in transformed[0]
    assert notebook.skip_python_with_blanks(["x = 1\n"]) == ["x = 1\n"]
    assert notebook.skip_python_with_blanks(["%%hcl course/a.tf\n", "a = ____\n"])[0] == "%%hcl course/a.tf\n"


# ---------------------------------------------------------------------------
# The checks: each names the wrong configurations and accepts the right one
# ---------------------------------------------------------------------------


def rule(low, high, cidrs=(), groups=(), protocol="tcp"):
    return {
        "IpProtocol": protocol,
        "FromPort": low,
        "ToPort": high,
        "IpRanges": [{"CidrIp": c} for c in cidrs],
        "Ipv6Ranges": [],
        "UserIdGroupPairs": [{"GroupId": g} for g in groups],
    }


def only(problems: list[str], *words: str) -> str:
    """The one problem containing every word (fails when none or several do)."""
    found = [p for p in problems if all(w in p for w in words)]
    assert len(found) == 1, f"expected one problem with {words}, got: {problems}"
    return found[0]


NETWORK = {
    "subnets": [
        {
            "SubnetId": "subnet-1",
            "CidrBlock": "10.0.1.0/24",
            "AvailabilityZone": "us-east-1a",
            "MapPublicIpOnLaunch": True,
        },
        {
            "SubnetId": "subnet-2",
            "CidrBlock": "10.0.2.0/24",
            "AvailabilityZone": "us-east-1b",
            "MapPublicIpOnLaunch": True,
        },
    ],
    "route_tables": [
        {
            "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"},
                {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1"},
            ],
            "Associations": [{"SubnetId": "subnet-1"}, {"SubnetId": "subnet-2"}],
        }
    ],
}


def test_network_check():
    assert ec.diagnose_network(**NETWORK) == []
    same_zone = copy.deepcopy(NETWORK)
    same_zone["subnets"][1]["AvailabilityZone"] = "us-east-1a"
    only(ec.diagnose_network(**same_zone), "both subnets are in us-east-1a")
    no_route = copy.deepcopy(NETWORK)
    no_route["route_tables"][0]["Routes"].pop()
    only(ec.diagnose_network(**no_route), "no route table sends 0.0.0.0/0 to the internet gateway")
    private = copy.deepcopy(NETWORK)
    private["subnets"][0]["MapPublicIpOnLaunch"] = False
    only(ec.diagnose_network(**private), "subnet 10.0.1.0/24 gives instances no public address")


ALB_GROUP = {
    "IpPermissions": [rule(443, 443, ["0.0.0.0/0"]), rule(80, 80, ["0.0.0.0/0"])],
    "IpPermissionsEgress": [rule(32768, 65535, ["10.0.0.0/16"])],
}


def test_alb_security_group_check():
    assert ec.diagnose_alb_security_group(ALB_GROUP) == []
    article = copy.deepcopy(ALB_GROUP)  # the source article's group
    article["IpPermissions"] += [rule(22, 22, ["0.0.0.0/0"]), rule(32768, 65535, ["0.0.0.0/0"])]
    problems = ec.diagnose_alb_security_group(article)
    only(problems, "opens port 22 to 0.0.0.0/0", "SSH")
    only(problems, "opens ports 32768-65535 to 0.0.0.0/0", "dynamic (ephemeral) port range")
    no_egress = dict(ALB_GROUP, IpPermissionsEgress=[])
    only(ec.diagnose_alb_security_group(no_egress), "no egress rule")
    port_80_out = dict(ALB_GROUP, IpPermissionsEgress=[rule(80, 80, ["10.0.0.0/16"])])
    only(ec.diagnose_alb_security_group(port_80_out), "egress allows port 80", "32768-65535")
    everywhere = dict(ALB_GROUP, IpPermissionsEgress=[rule(0, 0, ["0.0.0.0/0"], protocol="-1")])
    problems = ec.diagnose_alb_security_group(everywhere)
    only(problems, "egress goes to 0.0.0.0/0")
    only(problems, "egress allows every port")
    no_http = dict(ALB_GROUP, IpPermissions=[rule(443, 443, ["0.0.0.0/0"])])
    only(ec.diagnose_alb_security_group(no_http), "port 80 is not open to 0.0.0.0/0")


LB = {
    "Scheme": "internet-facing",
    "SecurityGroups": [ALB_SG],
    "DNSName": "ecs-alb-learner-1.us-east-1.elb.amazonaws.com",
    "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K",
}
LISTENERS = [
    {
        "Port": 80,
        "Protocol": "HTTP",
        "DefaultActions": [
            {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
        ],
    },
    {
        "Port": 443,
        "Protocol": "HTTPS",
        "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "DefaultActions": [{"Type": "fixed-response"}],
    },
]


def test_listeners_check():
    issued = {"Status": "ISSUED"}
    assert ec.diagnose_listeners(LB, LISTENERS, ALB_SG, issued) == []
    forward = copy.deepcopy(LISTENERS)
    forward[0]["DefaultActions"] = [{"Type": "forward", "TargetGroupArn": "arn"}]
    only(
        ec.diagnose_listeners(LB, forward, ALB_SG, issued), "HTTP listener's default action is forward, not a redirect"
    )
    to_http = copy.deepcopy(LISTENERS)
    to_http[0]["DefaultActions"][0]["RedirectConfig"]["Protocol"] = "HTTP"
    only(ec.diagnose_listeners(LB, to_http, ALB_SG, issued), "redirects to HTTP, not to HTTPS")
    same_port = copy.deepcopy(LISTENERS)
    same_port[0]["DefaultActions"][0]["RedirectConfig"]["Port"] = "#{port}"
    only(ec.diagnose_listeners(LB, same_port, ALB_SG, issued), "redirects to HTTPS on port #{port}", "80")
    old_tls = copy.deepcopy(LISTENERS)
    old_tls[1]["SslPolicy"] = "ELBSecurityPolicy-2016-08"
    only(ec.diagnose_listeners(LB, old_tls, ALB_SG, issued), "ELBSecurityPolicy-2016-08 still accepts TLS 1.0")
    only(ec.diagnose_listeners(dict(LB, Scheme="internal"), LISTENERS, ALB_SG, issued), "is internal")
    only(ec.diagnose_listeners(LB, LISTENERS, ALB_SG, {"Status": "PENDING_VALIDATION"}), "PENDING_VALIDATION")


TG_ARN, LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/1", "arn:lb"
TARGET_GROUP = {
    "TargetGroupArn": TG_ARN,
    "TargetType": "instance",
    "Protocol": "HTTP",
    "Port": 80,
    "HealthCheckPort": "traffic-port",
    "HealthCheckProtocol": "HTTP",
    "LoadBalancerArns": [LB_ARN],
}
RULES = [
    {"IsDefault": False, "Actions": [{"Type": "forward", "TargetGroupArn": TG_ARN}]},
    {"IsDefault": True, "Actions": [{"Type": "fixed-response"}]},
]


def test_target_group_check():
    assert ec.diagnose_target_group(TARGET_GROUP, RULES, LB_ARN) == []
    only(
        ec.diagnose_target_group(dict(TARGET_GROUP, TargetType="ip"), RULES, LB_ARN), "target type is ip", "bridge mode"
    )
    only(ec.diagnose_target_group(dict(TARGET_GROUP, Protocol="HTTPS"), RULES, LB_ARN), "protocol is HTTPS")
    only(
        ec.diagnose_target_group(dict(TARGET_GROUP, HealthCheckPort="80"), RULES, LB_ARN), "health checks go to port 80"
    )
    fixed = [{"IsDefault": False, "Actions": [{"Type": "fixed-response"}]}, RULES[1]]
    only(
        ec.diagnose_target_group(dict(TARGET_GROUP, LoadBalancerArns=[LB_ARN]), fixed, LB_ARN),
        "the HTTPS listener forwards to no target group",
        "fixed-response",
    )
    only(
        ec.diagnose_target_group(dict(TARGET_GROUP, LoadBalancerArns=[]), [RULES[1]], LB_ARN),
        "belongs to no load balancer",
    )


TASK = {
    "networkMode": "bridge",
    "containerDefinitions": [
        {"name": "nginx", "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]},
        {"name": "api"},
    ],
}
SERVICE = {"loadBalancers": [{"targetGroupArn": TG_ARN, "containerName": "nginx", "containerPort": 80}]}
USER_DATA = '#!/bin/bash\necho "ECS_CLUSTER=ecs-alb-learner" >> /etc/ecs/ecs.config\n'


def test_ecs_check():
    good = {
        "task_definition": TASK,
        "service": SERVICE,
        "user_data": USER_DATA,
        "cluster_name": "ecs-alb-learner",
        "target_group_arn": TG_ARN,
    }
    assert ec.diagnose_ecs(**good) == []
    fixed_port = copy.deepcopy(TASK)
    fixed_port["containerDefinitions"][0]["portMappings"][0]["hostPort"] = 80
    only(ec.diagnose_ecs(**dict(good, task_definition=fixed_port)), "hostPort is 80, not 0", "already using a port")
    only(ec.diagnose_ecs(**dict(good, task_definition=dict(TASK, networkMode="awsvpc"))), "network mode is awsvpc")
    only(ec.diagnose_ecs(**dict(good, user_data="#!/bin/bash\n")), "ECS_CLUSTER=ecs-alb-learner", "'default'")
    api = {"loadBalancers": [dict(SERVICE["loadBalancers"][0], containerName="api", containerPort=3000)]}
    only(ec.diagnose_ecs(**dict(good, service=api)), "registers container api port 3000")


INSTANCES = {"IpPermissions": [rule(32768, 65535, groups=[ALB_SG])]}


def test_lockdown_check():
    assert ec.diagnose_lockdown(INSTANCES, ALB_SG, [32768, 32769]) == []
    assert ec.diagnose_lockdown(INSTANCES, ALB_SG, []) == [], "no targets yet: the range itself is judged"
    port_80 = {"IpPermissions": [rule(80, 80, groups=[ALB_SG])]}
    problem = only(ec.diagnose_lockdown(port_80, ALB_SG, [32768, 32769]), "accept only port 80 from the ALB")
    assert "32768, 32769" in problem and "503" in problem
    open_80 = {"IpPermissions": [rule(80, 80, cidrs=["0.0.0.0/0"]), rule(32768, 65535, groups=[ALB_SG])]}
    only(ec.diagnose_lockdown(open_80, ALB_SG, [32768]), "still allows 0.0.0.0/0 on port 80")
    only(ec.diagnose_lockdown({"IpPermissions": []}, ALB_SG, [32768]), "no rule lets the ALB's security group in")
    other = {"IpPermissions": [rule(32768, 65535, groups=[OTHER_SG])]}
    problems = ec.diagnose_lockdown(other, ALB_SG, [32768])
    only(problems, f"lets group {OTHER_SG} in")
    everything = {"IpPermissions": [rule(0, 0, groups=[ALB_SG], protocol="-1")]}
    only(ec.diagnose_lockdown(everything, ALB_SG, [32768]), "may reach every port")
    narrow = {"IpPermissions": [rule(32768, 32768, groups=[ALB_SG])]}
    only(ec.diagnose_lockdown(narrow, ALB_SG, [32768, 32769]), "leaves target port(s) 32769 blocked")


def test_lockdown_check_leads_with_what_the_site_does_in_the_lab():
    """With the traffic lab the check has made a real request: a wrong rule is first told by the site's answer
    (504 after 10 s: the ALB fails open and cannot connect, https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-504-issues)."""
    port_80 = {"IpPermissions": [rule(80, 80, groups=[ALB_SG])]}
    problems = ec.diagnose_lockdown(port_80, ALB_SG, [32768], site=(504, 10.1), failing=[("i-0abc", 32768)])
    assert problems[0] == (
        "your site answers 504 (a real request through the lab, after 10 s): the ALB cannot reach port 32768 on i-0abc."
    )
    assert "accept only port 80 from the ALB" in problems[1]
    assert ec.diagnose_lockdown(INSTANCES, ALB_SG, [32768], site=(200, 0.01), failing=[]) == []
    assert ec.diagnose_lockdown(INSTANCES, ALB_SG, [32768], site=(503, 0.01), failing=[]) == [], (
        "right rules: a moment without a registered target is not the learner's mistake"
    )


def test_dns_check():
    alias = {
        "Name": "app.ecs-alb.example.",
        "Type": "A",
        "AliasTarget": {
            "DNSName": LB["DNSName"] + ".",
            "HostedZoneId": LB["CanonicalHostedZoneId"],
            "EvaluateTargetHealth": True,
        },
    }
    assert ec.diagnose_dns([alias], "app.ecs-alb.example", LB) == []
    own_zone = copy.deepcopy(alias)
    own_zone["AliasTarget"]["HostedZoneId"] = "Z0123456789OWNZONE"
    only(ec.diagnose_dns([own_zone], "app.ecs-alb.example", LB), "names hosted zone Z0123456789OWNZONE", "canonical")
    cname = {"Name": "app.ecs-alb.example.", "Type": "CNAME", "ResourceRecords": [{"Value": LB["DNSName"]}]}
    only(ec.diagnose_dns([cname], "app.ecs-alb.example", LB), "is a CNAME record, not an A alias")


def test_feedback_reads_done_or_not_done_yet():
    assert str(ec.Feedback("03", [], "ok")) == "✓ done: ok"
    assert str(ec.Feedback("03", ["a", "b"])) == "not done yet (03): a\n  also: b"


# ---------------------------------------------------------------------------
# Executed: the exercises as committed, and 02-03 filled in with the solution
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exercise_run(request):
    run = getattr(request.config, "course_exercises", None)
    if run is None:
        pytest.skip("the exercises run in the background only when tests/plugin/session.py starts them")
    return run.wait()


CHECKS = {e.notebook: f"exercise.{spec.check_of(e)}()" for e in generator.SPEC}


def _check_outputs(name: str, cells: list[dict]) -> list[str]:
    return [c["output"].strip() for c in cells if c["source"].strip() == CHECKS[name]]


@pytest.mark.after_course
def test_after_course_unfilled_exercises_run_top_to_bottom_and_every_check_says_not_done_yet(exercise_run):
    assert sorted(exercise_run["blank"]) == [e.notebook for e in generator.SPEC]
    for name, cells in exercise_run["blank"].items():
        outputs = _check_outputs(name, cells)
        assert outputs and all(o.startswith("not done yet") for o in outputs), f"{name}: {outputs}"
        writes = [c["output"] for c in cells if c["source"].startswith("%%hcl") and hcl.BLANK.search(c["source"])]
        assert writes and all("✗ Not saved:" in w for w in writes), f"{name}: a cell with blanks wrote a file"
        applies = [c["output"] for c in cells if c["source"].strip().startswith(("tf.apply", "tf.plan"))]
        assert applies and all(a.startswith("Skipped:") for a in applies), f"{name}: something was applied: {applies}"


@pytest.mark.after_course
def test_after_course_exercises_filled_in_with_the_solution_are_done(exercise_run):
    assert sorted(exercise_run["filled"]) == list(exercise_support.FILLED)
    for name, cells in exercise_run["filled"].items():
        outputs = _check_outputs(name, cells)  # 07 checks twice: after the port-80 rule (not done yet), after the fix
        assert outputs and outputs[-1].startswith("✓ done"), f"{name}: {outputs}"
    print("exercise run, seconds per notebook:", exercise_run["seconds"])


@pytest.mark.after_course
def test_after_course_exercise_07_filled_in_sends_the_real_requests_504_503_200(exercise_run):
    """The exercise path keeps the lab's demonstration cells (issue 27, item 8): filled in, exercise 07 shows the
    504 of the port-80 rule, the 503 of an empty target group and the 200 of the fix, as real requests."""
    if not exercise_run["lab"]:
        pytest.skip("the traffic lab cannot run here: the lab's cells print their one line instead")
    cells = exercise_run["filled"]["07-lock-down-the-instances"]

    def output_of(first_line: str) -> str:
        [cell] = [c for c in cells if c["source"].startswith(first_line)]
        return cell["output"]

    assert "504 Gateway Time-out" in output_of('lab.needed("this request waits 10 s')
    assert "(reason Request timed out)" in output_of('lab.needed("the events say')
    assert "503 Service Temporarily Unavailable" in output_of('lab.needed("with the service scaled to 0')
    answered = output_of('lab.needed("both targets turn healthy')
    assert "200 OK" in answered and '"ok":true' in answered
    assert "reachable" in output_of('lab.needed("lab.connect says')


def test_lockdown_check_reads_real_emulator_answers(emulator_url):
    """The same judgement on describe_security_groups' real answer: port 80 from the ALB's group, then the fix."""
    from helpers.runtime import aws

    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    try:
        alb = ec2.create_security_group(GroupName="exercise-alb", Description="alb", VpcId=vpc)["GroupId"]
        instances = ec2.create_security_group(GroupName="exercise-instances", Description="i", VpcId=vpc)["GroupId"]
        port_80 = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": alb}]}]
        ec2.authorize_security_group_ingress(GroupId=instances, IpPermissions=port_80)
        group = ec2.describe_security_groups(GroupIds=[instances])["SecurityGroups"][0]
        only(ec.diagnose_lockdown(group, alb, [32768, 32769]), "accept only port 80 from the ALB", "503")
        ec2.revoke_security_group_ingress(GroupId=instances, IpPermissions=port_80)
        ec2.authorize_security_group_ingress(
            GroupId=instances,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 32768, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": alb}]}
            ],
        )
        group = ec2.describe_security_groups(GroupIds=[instances])["SecurityGroups"][0]
        assert ec.diagnose_lockdown(group, alb, [32768, 32769]) == []
    finally:
        for group in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]:
            if group["GroupName"] != "default":
                ec2.delete_security_group(GroupId=group["GroupId"])
        ec2.delete_vpc(VpcId=vpc)


def test_every_exercise_is_a_step_of_the_registry_and_its_check_exists():
    """One source: the steps registry names each exercise's check; SPEC only says what becomes a blank."""
    from helpers.course import steps

    assert [e.notebook for e in generator.SPEC] == [s.notebook for s in steps.STEPS if s.exercise]
    for exercise in generator.SPEC:
        assert callable(getattr(ec, spec.check_of(exercise))), spec.check_of(exercise)
