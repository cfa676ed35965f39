"""The course stack: notebooks and terraform/ are one source of truth.

Fast checks first (files, lock file, validation messages, notebook order);
then, placed between notebook 09 and notebook 10 by tests/plugin/session.py, the
checks that need the course applied: terraform/ alone produces the same
resources and security rules, and notebooks 02-09 except 07 re-run without changes.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from helpers import course
from helpers.course.hcl_cells import hcl_cells
from helpers.course.notebook import write_cell
from helpers.errors import CourseError
from helpers.tf import hcl, runner, standalone, toolchain
from tests.support import course_support

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))


@pytest.mark.terraform  # terraform fmt checks each cell
def test_notebooks_write_exactly_the_files_in_terraform(tmp_path):
    for _, target, body in hcl_cells():
        write_cell(target, body, folder=tmp_path)
    built = {p.name: p.read_text() for p in tmp_path.glob("*.tf")}
    expected = {p.name: p.read_text() for p in (REPO / "terraform").glob("*.tf")}
    assert sorted(built) == sorted(expected), "the notebooks and terraform/ have different files"
    for name in expected:
        assert built[name] == expected[name], f"{name}: the notebooks' cells differ from terraform/{name}"


def test_each_file_is_written_by_the_notebook_that_teaches_it():
    writers = {}
    for notebook, target, _ in hcl_cells():
        writers.setdefault(target.split()[0].split("/")[1], set()).add(notebook[:2])
    assert writers["variables.tf"] == {"02", "03", "04", "06"}, "each notebook adds the variables it introduces"
    assert writers["lockdown.tf"] == {"07"} and writers["outputs.tf"] == {"09"}
    assert all(len(who) == 1 for name, who in writers.items() if name != "variables.tf")


def test_lock_file_holds_every_platforms_published_hash():
    lock = (REPO / "terraform" / ".terraform.lock.hcl").read_text()
    zh = re.findall(r'"zh:([0-9a-f]{64})"', lock)
    assert len(zh) == 11, "the registry publishes 11 platform packages of aws 3.39.0"
    bundled = toolchain.bundled_provider_zip("linux_amd64")
    if bundled is None:
        pytest.skip("the bundled provider package is not installed")
    digest = hashlib.sha256(bundled.read_bytes()).hexdigest()
    assert digest in zh, "the lock file's hashes are not those of the official 3.39.0 packages"


@pytest.fixture(scope="module")
def terraform_copy(tmp_path_factory, session_emulator):  # the emulator: the folder's override points at it
    folder = standalone.prepare(tmp_path_factory.mktemp("terraform"))
    init = standalone.terraform(folder, "init", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    return folder


@pytest.mark.terraform
def test_terraform_folder_is_formatted_and_valid(terraform_copy):
    fmt = standalone.terraform(
        terraform_copy, "fmt", "-check", "-no-color", *[p.name for p in (REPO / "terraform").glob("*.tf")]
    )
    assert fmt.returncode == 0, f"run terraform fmt on: {fmt.stdout}"
    validate = standalone.terraform(terraform_copy, "validate", "-no-color")
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_add_merges_blocks_in_place_and_keeps_the_others():
    first = 'variable "a" {\n  default = 1\n}\n\nvariable "b" {\n  default = 2\n}\n'
    merged = hcl.merge_blocks(first, 'variable "a" {\n  default = 10\n}\n\nvariable "c" {\n  default = 3\n}\n')
    assert (
        merged
        == 'variable "a" {\n  default = 10\n}\n\nvariable "b" {\n  default = 2\n}\n\nvariable "c" {\n  default = 3\n}\n'
    )
    assert hcl.merge_blocks(merged, merged) == merged, "re-running a cell changes nothing"
    with pytest.raises(CourseError):
        hcl.merge_blocks("", 'variable "a" {\n  default = 1\n')


# ---------------------------------------------------------------------------
# After notebook 09 (tests/plugin/session.py puts these before notebook 10)
# ---------------------------------------------------------------------------


def _require_course_applied():
    if "08-dns" not in course.applied():
        pytest.skip("needs the course applied by notebooks 02-09: run the whole suite (make test)")


def _security_rules(resources: dict) -> set:
    """Every security group rule, with group IDs replaced by the groups' Terraform addresses."""
    names = {a["id"]: address for address, a in resources.items() if address.startswith("aws_security_group.")}
    return {
        (
            address,
            a["type"],
            a["protocol"],
            a["from_port"],
            a["to_port"],
            tuple(sorted(a.get("cidr_blocks") or [])),
            names.get(a.get("source_security_group_id"), a.get("source_security_group_id")),
            names[a["security_group_id"]],
        )
        for address, a in resources.items()
        if address.startswith("aws_security_group_rule.")
    }


@pytest.mark.after_course
def test_after_course_terraform_folder_alone_builds_what_the_notebooks_built(standalone_run):
    _require_course_applied()
    result = standalone_run.part(course_support.PART)  # written once applied, while the lab goes on
    alone_resources = course.state_resources(path=Path(result["state"]))
    notebooks = course.state_resources()
    assert sorted(alone_resources) == sorted(notebooks), "terraform/ and the notebooks create different resources"
    assert _security_rules(alone_resources) == _security_rules(notebooks), "the security rules differ"
    # The inventory the teardown notebook relies on finds every kind of tagged resource.
    found = {line.split(":")[0] for line in result["inventory"]}
    assert found == {
        "ACM certificate",
        "Auto Scaling group",
        "EC2 instance",
        "ECS cluster",
        "ECS service",
        "ECS task definition",
        "IAM instance profile",
        "IAM role",
        "VPC",
        "internet gateway",
        "launch template",
        "load balancer",
        "log group",
        "Route 53 zone",
        "route table",
        "security group",
        "subnet",
        "target group",
    }, found


@pytest.fixture
def standalone_run(request):
    run = getattr(request.config, "course_standalone", None)
    if run is None:
        pytest.skip("terraform/ is applied in the background only when the notebooks run too (make test)")
    return run


@pytest.mark.after_course
def test_after_course_notebooks_but_07_rerun_without_changes():
    """Re-run 02-09 except 07 on the applied course: every apply reports no changes, and the stack then plans none.

    07 is left out, for make test's time budget: it replays its lesson on purpose (its applies replace the rule
    with port 80 and back, and the lab's real 504 and 503 take about 25 s). Not checked here, then: that 07
    re-runs from the locked-down stack. ``make bench`` re-runs it (its part (d) re-runs every applied notebook);
    the course's own run of 07 executes and compares its cells; tests/lab/test_lab_end_to_end.py runs a
    similar experiment (boto3, not 07's cells) from healthy targets on terraform/ alone.
    """
    _require_course_applied()
    import nbformat
    from nbclient import NotebookClient

    for path in (p for p in NOTEBOOKS[2:10] if not p.name.startswith("07-")):
        nb = nbformat.read(path, as_version=4)
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
        for cell in nb.cells:
            text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))
            if "terraform apply · stack course" in text:
                assert "No changes" in text, f"{path.name} changed something on a re-run:\n{text}"
    plan = runner.Terraform(course.STACK).plan()
    assert plan.added == plan.changed == plan.destroyed == 0, plan.summary
