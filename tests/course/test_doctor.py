"""python -m helpers doctor: a table with a fix for every failure; exit 0 only when ready."""

from __future__ import annotations

import subprocess
import sys

from helpers.course import doctor
from helpers.course.notebook import write_cell


def test_doctor_passes_on_a_ready_machine(emulator_url):
    proc = subprocess.run([sys.executable, "-m", "helpers", "doctor"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("Python", "Terraform", "AWS provider", "Emulator", "Graphviz"):
        assert f"✓ {name}" in proc.stdout
    assert "diagrams icon" in proc.stdout and "Ready: every check passed." in proc.stdout


def test_missing_dot_fails_with_the_install_lines(monkeypatch, tmp_path, emulator_url):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no Graphviz on it
    results = {c.name: c for c in doctor.run()}
    graphviz = results["Graphviz"]
    assert not graphviz.ok and "'dot' program was not found" in graphviz.detail
    for line in ("apt-get install graphviz", "brew install graphviz", "conda install -c conda-forge graphviz"):
        assert line in graphviz.fix
    report = doctor.report(list(results.values()))
    assert "✗ Graphviz" in report and "Not ready" in report


def test_doctor_never_crashes_on_a_broken_check(monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "CHECKS", (broken,))
    [result] = doctor.run()
    assert not result.ok and "boom" in result.detail and result.fix


def test_hcl_cell_writes_the_stack_file():
    report = write_cell("unit-magic/main.tf", 'resource "aws_security_group" "a" {\n}\ndata "aws_vpc" "d" {}\n')
    assert report == "Saved <workspace>/stacks/unit-magic/main.tf (aws_security_group.a, data aws_vpc.d)"
