"""The catalogue of bad inputs: each one gets one clear message (what, why, fix) and loses nothing.

Read it as a list: every test below names a mistake a learner (or their machine) makes,
asserts the message they get, and, where something could be lost, that the Terraform state,
their edits and the emulator's data survive. The messages are CourseErrors: three short lines,
never a traceback (tests/delivery/test_notebook_kernel.py shows how a notebook displays them).

    values:     invalid CIDR, ports out of range, from > to, invalid learner prefix ... (variables),
                DNS validation without a zone, a domain outside the zone (preconditions)
    HCL:        impossible ports in a rule, an unknown security group id, syntax errors (cell, file)
    machine:    emulator down or its port busy, Graphviz missing
    course:     notebook out of order, bad stack name, bad %%hcl target, unknown target
    AWS:        aws target without credentials, real credentials while on the emulator
    state:      lock held, damaged state file, failure while writing the backup
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import pytest

from helpers import course
from helpers.course import notebook
from helpers.errors import CourseError, explain
from helpers.runtime import aws, cloud, emulator
from helpers.tf import standalone, toolchain
from helpers.tf import state as tf_state
from helpers.tf.diagnosis import explain_failure
from helpers.tf.result import TerraformResult
from helpers.tf.runner import Terraform
from helpers.tf.state import stack_dir

GROUP = (
    toolchain.HEADER_HCL
    + """
resource "aws_security_group" "box" {
  name        = "course-bad-inputs"
  description = "bad inputs catalogue"
}
"""
)
SECOND = """
resource "aws_security_group" "second" {
  name        = "course-bad-inputs-2"
  description = "bad inputs catalogue"
}
"""
RULE = """
resource "aws_security_group_rule" "bad" {
  type              = "ingress"
  security_group_id = %s
  protocol          = "tcp"
  from_port         = %d
  to_port           = %d
  cidr_blocks       = ["10.0.0.0/16"]
}
"""


def clear(error: CourseError, what: str, fix: str = "") -> CourseError:
    """The message is what/why/fix, each one short line, and says what the test expects."""
    assert what in error.what, error.render()
    assert fix in error.fix, error.render()
    for part in (error.what, error.why):
        assert part and "\n" not in part and len(part) < 400, error.render()
    assert error.fix and len(error.fix.splitlines()) <= 6, error.render()
    assert "Traceback" not in error.render() and 'File "' not in error.render()
    return error


@pytest.fixture(scope="module")
def box(emulator_url_module):
    """A stack with one security group, applied (shared: each test leaves it as it found it)."""
    (stack_dir("bad-inputs") / "main.tf").write_text(GROUP)
    tf = Terraform("bad-inputs")
    tf.apply(skip_plan=True)
    yield tf
    for extra in tf.folder.glob("*.tf"):
        if extra.name != "main.tf":
            extra.unlink()
    tf.destroy()


@pytest.fixture(scope="module")
def emulator_url_module(session_emulator):
    return emulator.ensure()


def refused_with(box: Terraform, rule: str) -> CourseError:
    """Apply the stack with ``rule`` added as rule.tf; return the refusal (rule.tf is removed again)."""
    (box.folder / "rule.tf").write_text(rule)
    try:
        with pytest.raises(CourseError) as info:
            box.apply(skip_plan=True)
    finally:
        (box.folder / "rule.tf").unlink()
    return info.value


def state_of(tf: Terraform) -> str:
    return (tf.folder / "terraform.tfstate").read_text()


# ---------------------------------------------------------------------------
# Values: the variables' validation rules (terraform/variables.tf) stop them before anything changes
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def course_copy(emulator_url_module):
    """terraform/ as a stack of the workspace (the course's files), initialised once."""
    tf = Terraform("bad-values")
    standalone.prepare(tf.folder)
    tf.init()
    return tf


BAD_VALUES = [
    ("learner", "Ana Smith", "1 to 12 lower-case letters or digits"),  # invalid learner prefix
    ("vpc_cidr", "10.0.0.0/8", "from /16 to /24"),
    ("vpc_cidr", "10.0.0.300/16", "from /16 to /24"),  # invalid CIDR
    ("public_subnet_cidrs", ["10.0.1.0/24"], "exactly two IPv4 networks"),
    ("host_port_range", {"from": 40000, "to": 32768}, "1024 <= from <= to <= 65535"),  # from > to
    ("host_port_range", {"from": 32768, "to": 70000}, "1024 <= from <= to <= 65535"),  # port out of range
    ("database_cidr", "0.0.0.0/0", "not 0.0.0.0/0"),
    ("database_port", "0", "from 1 to 65535"),
    ("domain_name", "localhost", "at least three labels"),
    ("hosted_zone_id", "my-zone", 'looks like "Z0123456789ABCDEFGHIJ"'),
    ("certificate_source", "letsencrypt", '"acm-dns"'),
    ("instance_count", "9", "from 1 to 4"),
]


def _rounds(cases) -> list[dict]:
    """The bad values in as few plans as possible: each plan sets a variable once (here: two plans, not twelve)."""
    rounds: list[dict] = []
    for variable, value, _ in cases:
        free = next((values for values in rounds if variable not in values), None)
        if free is None:
            rounds.append(free := {})
        free[variable] = value
    return rounds


def _variables_of(diagnostic: dict) -> set[str]:
    """Which variables a validation error is about (the snippet names them: ``var.NAME`` or ``var.NAME.from``)."""
    traversals = [value.get("traversal", "") for value in (diagnostic.get("snippet") or {}).get("values") or []]
    return {traversal.split(".")[1] for traversal in traversals if traversal.startswith("var.")}


@pytest.fixture(scope="module")
def bad_value_plans(course_copy) -> list[tuple[dict, TerraformResult]]:
    """Each round of bad values planned once. Terraform checks every variable's validation rules before it
    plans anything and reports each failed rule as its own diagnostic, so one plan answers for several values."""
    plans = []
    for values in _rounds(BAD_VALUES):
        result = course_copy.plan(var=values, raise_on_error=False)
        # What a learner with all these mistakes at once is told: one of them, as clearly.
        clear(explain_failure(course_copy.stack, "plan", result, result[2]), "invalid value for variable", "Change")
        plans.append((values, result))
    return plans


@pytest.mark.parametrize("variable, value, message", BAD_VALUES)
def test_a_bad_variable_value_says_what_is_expected(bad_value_plans, course_copy, variable, value, message):
    result = next(result for values, result in bad_value_plans if values.get(variable) == value)
    assert result.code == 1, result.summary
    mine = [d for d in result.diagnostics if d.get("severity") == "error" and _variables_of(d) == {variable}]
    assert len(mine) == 1, f"one error for var.{variable}: {result.diagnostics}"
    # The message this value alone gets: the plan's failure with only its own diagnostic.
    alone = TerraformResult(*result, command="plan", stack=course_copy.stack, diagnostics=mine)
    error = explain_failure(course_copy.stack, "plan", alone, result[2])
    clear(error, "invalid value for variable", "Change the value")
    assert message in error.why
    assert not (course_copy.folder / "terraform.tfstate").exists(), "nothing was applied"


def test_dns_validation_without_a_zone_is_stopped_before_anything_changes(course_copy):
    with pytest.raises(CourseError) as info:
        course_copy.plan(var={"certificate_source": "acm-dns"})
    clear(info.value, "resource precondition failed", "A precondition rejected the value")
    assert "set hosted_zone_id" in info.value.why


def test_a_domain_outside_the_given_zone_is_stopped_before_anything_changes(course_copy):
    zone = aws.client("route53").create_hosted_zone(Name="example.com", CallerReference="course-test-zone")
    zone_id = zone["HostedZone"]["Id"].split("/")[-1]
    try:
        with pytest.raises(CourseError) as info:
            course_copy.plan(
                var={"certificate_source": "acm-dns", "hosted_zone_id": zone_id, "domain_name": "app.other.org"}
            )
        clear(info.value, "stopped for stack bad-values")
        assert "domain_name must be a name inside the zone" in info.value.why
    finally:
        aws.client("route53").delete_hosted_zone(Id=zone_id)


# ---------------------------------------------------------------------------
# HCL: what only AWS (and the emulator, corrected to match it) refuses
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("low, high, case", [(70000, 70001, "port out of range"), (40000, 32768, "from > to")])
def test_impossible_ports_in_a_rule_are_refused_as_on_aws(box, low, high, case):
    before = course.state_resources("bad-inputs")
    error = refused_with(box, RULE % ("aws_security_group.box.id", low, high))
    clear(error, "rule.tf line 2: AWS refused it (InvalidPermission.Malformed: TCP/UDP port", "from_port/to_port")
    assert "0 to 65535" in error.why
    after = course.state_resources("bad-inputs")
    assert (
        after.keys() == before.keys()
        and after["aws_security_group.box"]["id"] == before["aws_security_group.box"]["id"]
    ), "the group is still in the state, nothing lost"


def test_an_unknown_security_group_id_in_hcl_says_to_refer_to_the_group(box):
    clear(
        refused_with(box, RULE % ('"sg-0123456789abcdef0"', 443, 443)),
        'No security group with ID "sg-0123456789abcdef0"',
        "aws_security_group.alb.id",
    )


@pytest.mark.parametrize("group_id", ["sg-0123456789abcdef0", "my-group"])
def test_an_unknown_security_group_id_passed_to_boto3_says_where_ids_come_from(emulator_url_module, group_id):
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as raw:
        aws.client("ec2").describe_security_groups(GroupIds=[group_id])
    error = clear(explain(raw.value), "DescribeSecurityGroups failed: InvalidGroup", "course.resource(")
    assert group_id in error.what  # what a notebook shows instead of botocore's traceback


@pytest.mark.terraform  # terraform fmt checks each cell
def test_a_syntax_error_in_an_hcl_cell_keeps_the_previous_file_and_the_learners_text():
    good = 'resource "aws_security_group" "cell" {\n  name = "a"\n}\n'
    broken = 'resource "aws_security_group" "cell" {\n  name = "a\n}\n'
    notebook.write_cell("bad-cell/main.tf", good)
    folder = stack_dir("bad-cell")
    with pytest.raises(CourseError) as info:
        notebook.write_cell("bad-cell/main.tf", broken)
    clear(
        info.value, "main.tf, line 2 of the HCL: Invalid multi-line string. The cell was not saved.", "main.tf.rejected"
    )
    assert (folder / "main.tf").read_text() == good, "the previous good version is kept"
    assert (folder / "main.tf.rejected").read_text() == broken, "the learner's text is kept too"
    with pytest.raises(CourseError) as refused:  # the old file is never applied by mistake
        Terraform("bad-cell").plan()
    clear(
        refused.value,
        "the last %%hcl cell for main.tf was not saved",
        "delete <workspace>/stacks/bad-cell/main.tf.rejected",
    )
    notebook.write_cell("bad-cell/main.tf", good.replace('"a"', '"b"'))  # fixed and run again
    assert not (folder / "main.tf.rejected").exists()


def test_a_syntax_error_in_a_stack_file_names_file_and_line_and_keeps_state(box):
    before, good = state_of(box), (box.folder / "main.tf").read_text()
    broken = good.replace('description = "bad inputs catalogue"', 'description = "bad inputs catalogue')
    (box.folder / "main.tf").write_text(broken)  # edited in the file itself, not in a cell
    try:
        with pytest.raises(CourseError) as info:
            box.apply(skip_plan=True)
        clear(info.value, "main.tf line", "correct line")
        assert state_of(box) == before
        assert (box.folder / "main.tf").read_text() == broken  # the learner's edit is untouched
    finally:
        (box.folder / "main.tf").write_text(good)


# ---------------------------------------------------------------------------
# The machine: emulator, its port, Graphviz
# ---------------------------------------------------------------------------


def test_emulator_down_behind_aws_endpoint_url_says_it_cannot_restart_it(monkeypatch):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(CourseError) as info:
        aws.client("ec2")
    clear(info.value, f"Nothing answers at AWS_ENDPOINT_URL=http://127.0.0.1:{port}", "unset AWS_ENDPOINT_URL")
    # The course's own emulator, when down, is simply started again: tests/course/test_faults.py.


def test_emulator_that_cannot_start_says_what_is_missing(other_workspace):
    code = "import sys; sys.modules['moto'] = None\nfrom helpers.cli import main; sys.exit(main(['emulator', 'start']))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "'moto' is not installed" in proc.stderr and "make lab" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_emulator_port_busy_is_one_clear_error(other_workspace, monkeypatch):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        monkeypatch.setenv("COURSE_EMULATOR_PORT", str(busy))
        with pytest.raises(CourseError) as info:
            emulator.start()
    clear(info.value, f"port {busy} is already in use", "unset COURSE_EMULATOR_PORT")
    # Without COURSE_EMULATOR_PORT a busy port is no error: tests/runtime/test_emulator.py.


def test_graphviz_missing_gives_the_install_lines(monkeypatch, tmp_path):
    from helpers.verify.live_diagram import draw_live

    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no Graphviz on it
    with pytest.raises(CourseError) as info:
        draw_live({}, tmp_path / "diagram")
    error = clear(info.value, "Graphviz's 'dot' program was not found", "apt-get install graphviz")
    assert "brew install graphviz" in error.fix and "conda install" in error.fix


# ---------------------------------------------------------------------------
# The course: order and names
# ---------------------------------------------------------------------------


def test_a_notebook_run_out_of_order_names_the_one_to_run_first(other_workspace, monkeypatch):
    monkeypatch.setattr(course.recovery, "ensure", lambda **_: {})  # no emulator needed for this
    folder = stack_dir(course.STACK)
    state = {
        "version": 4,
        "resources": [
            {"mode": "managed", "type": t, "name": n, "instances": [{"attributes": {"id": "x"}}]}
            for t, n in (("aws_route_table_association", "public"), ("aws_security_group_rule", "alb_to_targets"))
        ],
    }
    (folder / "terraform.tfstate").write_text(json.dumps(state))
    assert course.applied() == ["02-network", "03-alb-security-group"]
    with pytest.raises(CourseError) as info:
        course.start("06-ecs-on-ec2")
    clear(info.value, "builds on notebook 04-alb-and-listeners", "notebooks/04-alb-and-listeners.ipynb")
    course.start("04-alb-and-listeners")  # the next one in order is fine


def test_an_invalid_stack_name_is_refused():
    with pytest.raises(CourseError) as info:
        Terraform("../escape")
    clear(info.value, "not a valid stack name", '"00-hello"')


@pytest.mark.parametrize("target", ["main.tf", "UPPER/main.tf", "stack/../main.tf", "stack/main.py"])
def test_an_hcl_cell_with_a_bad_target_says_how_to_write_it(target):
    with pytest.raises(CourseError) as info:
        notebook.write_cell(target, "")
    clear(info.value, "%%hcl needs a target", "%%hcl 00-hello/main.tf")


def test_an_unknown_target_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_TARGET", "production")
    with pytest.raises(CourseError) as info:
        cloud.current()
    clear(info.value, "Unknown course target 'production'", "COURSE_TARGET")


# ---------------------------------------------------------------------------
# AWS credentials
# ---------------------------------------------------------------------------


def test_aws_target_without_credentials_is_one_clear_error(monkeypatch, no_aws_credentials, loopback_only):
    monkeypatch.setenv("COURSE_TARGET", "aws")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with pytest.raises(CourseError) as info:
        aws.require_credentials()
    clear(info.value, "No AWS credentials", "aws configure")
    assert "target emulator" in info.value.fix
    (stack_dir("aws-no-creds") / "main.tf").write_text(GROUP)
    with pytest.raises(CourseError) as before_terraform:
        Terraform("aws-no-creds").apply(skip_plan=True)
    clear(before_terraform.value, "No AWS credentials")
    assert not (stack_dir("aws-no-creds") / "terraform.tfstate").exists()  # nothing ran
    assert loopback_only == []


def test_real_credentials_on_the_emulator_target_are_ignored_and_named(
    real_looking_credentials, loopback_only, emulator_url, capsys
):
    groups = aws.client("ec2").describe_security_groups()["SecurityGroups"]
    assert any(g["GroupName"] == "default" for g in groups)
    assert loopback_only == []  # no connection was attempted outside loopback
    err = capsys.readouterr().err
    assert "real AWS credentials are set" in err and "ignored" in err and "python -m helpers target aws" in err
    assert real_looking_credentials not in err  # names of variables only, never values
    # Terraform, with the same credentials, never leaves loopback either: tests/runtime/test_cloud.py.


# ---------------------------------------------------------------------------
# State: lock, damage, backups
# ---------------------------------------------------------------------------


def test_a_held_state_lock_names_the_unlock_command(box):
    state = box.folder / "terraform.tfstate"
    before = state.read_text()
    holder = subprocess.Popen(  # another process, as a concurrent Terraform run is
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'r+'); fcntl.lockf(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.read()",
            str(state),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CourseError) as info:
            box.apply(skip_plan=True, lock_timeout="0s")
    finally:
        holder.communicate("", timeout=30)
    clear(info.value, "the state of stack bad-inputs is locked", "force-unlock")
    assert state.read_text() == before


def test_a_damaged_state_file_names_the_backup_to_restore(box):
    box.apply(skip_plan=True)  # an apply copies the state first: there is a backup now
    newest = tf_state.existing("bad-inputs")[-1]
    state = box.folder / "terraform.tfstate"
    good = state.read_text()
    assert newest.read_text() == good
    state.write_text(good[: len(good) // 2])  # cut in half, as by a full disk or an editor
    try:
        for attempt in (lambda: course.state_resources("bad-inputs"), box.plan, box.apply):
            with pytest.raises(CourseError) as info:
                attempt()
            clear(
                info.value,
                "<workspace>/stacks/bad-inputs/terraform.tfstate is damaged",
                f"cp <workspace>/backups/bad-inputs/{newest.name} <workspace>/stacks/bad-inputs/terraform.tfstate",
            )
        assert state.read_text() == good[: len(good) // 2], "the damaged file is left for the learner to inspect"
    finally:
        shutil.copyfile(newest, state)  # the fix the message gives
    assert box.plan().code == 0


def test_a_failed_state_backup_stops_before_anything_changes(box):
    backup_root = tf_state.folder("bad-inputs").parent
    backup_root.mkdir(exist_ok=True)
    saved = backup_root.with_name("tf_state.saved")
    backup_root.rename(saved)
    backup_root.write_text("a file where the folder should be: like a full or read-only disk")
    (box.folder / "second.tf").write_text(SECOND)
    before = state_of(box)
    try:
        with pytest.raises(CourseError) as info:
            box.apply(skip_plan=True)
        clear(info.value, "the state of stack bad-inputs could not be backed up", "writable folder")
        assert "Nothing was changed" in info.value.why
        assert state_of(box) == before
        assert not aws.client("ec2").describe_security_groups(
            Filters=[{"Name": "group-name", "Values": ["course-bad-inputs-2"]}]
        )["SecurityGroups"]
    finally:
        (box.folder / "second.tf").unlink()
        backup_root.unlink()
        saved.rename(backup_root)
