"""The code is lint-clean and formatted: ruff, configured in pyproject.toml (notebooks excluded)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_ruff_finds_nothing_to_lint():
    result = ruff("check", "--no-cache", ".")
    assert result.returncode == 0, f"ruff check found problems (fix: ruff check --fix .):\n{result.stdout}"


def test_ruff_finds_nothing_to_format():
    result = ruff("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, f"not formatted (fix: ruff format .):\n{result.stdout}"
