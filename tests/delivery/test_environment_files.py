"""environment.yml (conda) and requirements.txt (pip) must install the same thing.

Conda channels are not reachable where CI runs, so this test is the proof
that both files agree: same packages, same versions, same extras.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-]+(?:\[[a-z0-9,]+\])?)==([\w.]+)$")


def pins(lines):
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-e"):
            continue
        match = REQUIREMENT.match(line)
        assert match, f"not pinned with ==: {line!r}"
        found[match.group(1).lower()] = match.group(2)
    return found


def test_conda_pip_section_matches_requirements():
    requirements = pins((REPO / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pins(pip_section) == requirements
    assert "-e ." in pip_section  # the helpers package itself


def test_conda_environment_brings_graphviz_and_python():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    plain = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "graphviz" in plain and "pip" in plain
    assert any(d.startswith("python=3.1") for d in plain)


def test_every_conda_dependency_says_why():
    text = (REPO / "environment.yml").read_text()
    for line in text[text.index("dependencies:") :].splitlines():
        if line.strip().startswith("- ") and not line.strip().endswith(":"):
            assert "#" in line, f"environment.yml: say why this dependency is there: {line.strip()}"


def test_design_card_packages_are_all_required():
    requirements = pins((REPO / "requirements.txt").read_text().splitlines())
    for name in ("jupyterlab", "boto3", "python-terraform", "diagrams", "nbval"):
        assert name in requirements


def test_moto_extras_cover_every_service_the_course_calls():
    # moto is installed with the extras of the services the course uses (not moto[server],
    # which brings 170 MB of other services' dependencies): a new boto3 client needs its extra.
    requirements = pins((REPO / "requirements.txt").read_text().splitlines())
    moto = next(name for name in requirements if name.startswith("moto["))
    extras = set(moto[len("moto[") : -1].split(","))
    sources = [*(REPO / "helpers").glob("*.py"), *(REPO / "notebooks").rglob("*.ipynb")]
    called = {m for path in sources for m in re.findall(r"client\(\\?[\"']([a-z0-9-]+)", path.read_text())}
    assert called >= {"ec2", "elbv2", "ecs"}, called  # the scan itself works
    assert called <= extras, f"add to moto's extras in requirements.txt and environment.yml: {called - extras}"
    assert {"flask", "flask-cors"} <= set(requirements)  # moto's server
