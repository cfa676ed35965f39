"""One source for each course fact: the steps registry, the host-port range, the tag reader."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import course
from helpers.course import steps, tags
from helpers.workshop import facilitator

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = "\n".join(p.read_text() for p in sorted((REPO / "terraform").glob("*.tf")))


def test_every_step_names_a_notebook_and_a_resource_of_terraform():
    for step in steps.STEPS:
        assert (REPO / "notebooks" / f"{step.notebook}.ipynb").is_file(), step.notebook
        assert step.notebook.startswith(step.id + "-"), step
        if step.marker:
            kind, name = step.marker.split(".")
            assert f'resource "{kind}" "{name}"' in TERRAFORM, f"{step.marker} is not declared in terraform/"
    assert course.NOTEBOOKS == [s.notebook for s in steps.STEPS]


def test_the_facilitator_table_has_a_column_for_each_step_that_builds_something():
    assert list(facilitator.COLUMNS) == [s.id for s in steps.STEPS if s.marker]
    assert facilitator.next_notebook([]) == "02-network"
    assert facilitator.next_notebook(list(facilitator.COLUMNS)) == "09-verify-everything"


def test_the_host_port_range_is_the_default_of_var_host_port_range():
    block = re.search(r'^variable "host_port_range" \{\n(.*?)^\}', TERRAFORM, re.M | re.S).group(1)
    default = re.search(r"default\s*=\s*\{ from = (\d+), to = (\d+) \}", block)
    assert (int(default.group(1)), int(default.group(2))) == course.HOST_PORT_RANGE


def test_missing_before_lists_the_unapplied_steps_in_order():
    assert steps.missing_before("05-target-group", {"02-network"}) == ["03-alb-security-group", "04-alb-and-listeners"]
    assert steps.missing_before("02-network", set()) == []


def test_the_tag_reader_reads_every_shape_aws_uses():
    for shape in (
        [{"Key": "course", "Value": "ecs-alb"}, {"Key": "learner", "Value": "ana"}],  # EC2, ELB, IAM, Route 53
        [{"key": "course", "value": "ecs-alb"}, {"key": "learner", "value": "ana"}],  # ECS
        {"course": "ecs-alb", "learner": "ana"},  # CloudWatch Logs, Terraform's tags_all
    ):
        assert tags.learner_of(shape) == "ana"
        assert tags.tagged(shape, "ana") and tags.tagged(shape, None) and not tags.tagged(shape, "bob")
    assert tags.learner_of([{"Key": "learner", "Value": "ana"}]) is None, "not the course's"
    assert tags.learner_of(None) is None


def test_no_other_module_writes_the_host_port_range_as_a_number():
    import ast

    helpers = REPO / "helpers"
    found = []
    for path in sorted(helpers.rglob("*.py")):
        if path == helpers / "tf" / "variables.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in course.HOST_PORT_RANGE[:1]:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not found, f"write course.HOST_PORT_RANGE instead of the number: {found}"
