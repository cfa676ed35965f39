"""The command reference is argparse's: `python -m helpers --help` lists every command with one line."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from helpers import cli

REPO = Path(__file__).resolve().parents[2]


def commands() -> dict[str, str]:
    """{command: its help line}, read from the parser cli.main builds."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {action.dest: action.help for action in sub._choices_actions}


def test_every_command_has_a_one_line_help_and_help_lists_them_all():
    found = commands()
    assert len(found) >= 14 and all(text and "\n" not in text for text in found.values()), found
    shown = subprocess.run(
        [sys.executable, "-m", "helpers", "--help"], capture_output=True, text=True, cwd=REPO, timeout=60
    ).stdout
    for name in found:
        assert re.search(rf"^\s+{name}\s", shown, re.M), f"{name} is missing from python -m helpers --help"


def test_the_docs_point_at_the_reference_instead_of_copying_it():
    readme = (REPO / "README.md").read_text()
    assert "python -m helpers --help" in readme
    listed = [name for name in commands() if re.search(rf"python -m helpers {name}\b.*  +\S", readme)]
    assert len(listed) < 4, f"README lists commands again ({listed}): point at python -m helpers --help"
