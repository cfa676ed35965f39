"""The command line (helpers/cli/): `python -m helpers --help` lists every command with one line, each group
(emulator, lab) its actions; arguments arrive typed; a bad command line is one message; every command line the
course shows names a command that exists."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import cli
from helpers.cli import parsing

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


def groups() -> dict[str, dict[str, str] | None]:
    """{command: {action: its help line} for a command group (emulator, lab), else None}."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = {}
    for name, command in sub.choices.items():
        inner = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        found[name] = {a.dest: a.help for a in inner[0]._choices_actions} if inner else None
    return found


def test_every_action_of_a_group_has_a_one_line_help_and_the_groups_help_lists_them():
    for group, actions in groups().items():
        if actions is None:
            continue
        assert actions and all(text and "\n" not in text for text in actions.values()), (group, actions)
        shown = subprocess.run(
            [sys.executable, "-m", "helpers", group, "--help"], capture_output=True, text=True, cwd=REPO, timeout=60
        ).stdout
        for name in actions:
            assert re.search(rf"^\s+{name}\s", shown, re.M), f"{name} is missing from python -m helpers {group} --help"


# Where the course shows a command line: the READMEs, the instructor's guide, the notebooks, the messages.
SHOWN_IN = [
    *REPO.glob("*.md"),
    *(REPO / "notebooks").rglob("*.md"),
    *(REPO / "notebooks").rglob("*.ipynb"),
    *(REPO / "helpers").rglob("*.md"),
    *(REPO / "helpers").rglob("*.py"),
    *(REPO / "bench").rglob("*.md"),
    *(REPO / "terraform").rglob("*.md"),
]
COMMAND_LINE = re.compile(r"python -m helpers +([a-z][\w-]*)(?: +([a-z][\w-]*))?")


def test_every_command_line_the_course_shows_names_a_command_that_exists():
    """`python -m helpers course catch-up` in a fix line sent learners to a command that never existed."""
    known = groups()
    wrong = []
    for path in SHOWN_IN:
        for found in COMMAND_LINE.finditer(path.read_text()):
            command, action = found.groups()
            if command not in known or (known[command] and action and action not in known[command]):
                wrong.append(f"{path.relative_to(REPO)}: {found.group(0)}")
    assert len(SHOWN_IN) > 50 and not wrong, "command lines naming no command:\n" + "\n".join(wrong)


def test_arguments_arrive_typed():
    parse = cli.build_parser().parse_args
    probe = parse(["lab", "probe", "internet", "i-0abc", "32768", "--timeout", "0.5"])
    assert (probe.source, probe.destination, probe.port, probe.timeout) == ("internet", "i-0abc", 32768, 0.5)
    assert parse(["audit", "--host-ports", "1024-2048"]).host_ports == (1024, 2048)
    assert parse(["override", str(REPO / "terraform")]).folder == REPO / "terraform"
    assert parse(["emulator", "credentials", "ana", "ben", "--hours", "2"]).hours == 2.0
    assert parse(["terraform", "course", "state", "list", "-no-color"]).args == ["state", "list", "-no-color"]
    # Each command line runs the one function of its command.
    assert parse(["lab", "status"]).run.__name__ == "status" and parse(["env"]).run.__name__ == "print_exports"


@pytest.mark.parametrize(
    "argv, what, why",
    [
        (["bogus"], "invalid choice: 'bogus'", "COMMAND --help"),
        (["emulator"], "required: ACTION", "start, stop, status, reset, serve, use, credentials"),
        (["emulator", "use"], "required: URL", "emulator use needs the room emulator's address"),
        (["emulator", "serve", "0.0.0.0"], "unrecognized arguments: 0.0.0.0", "given with --host"),
        (["emulator", "serve", "--port", "70000"], "70000 is not a port", "--host"),
        (["emulator", "stop", "now"], "unrecognized arguments: now", "does not take these arguments"),
        (["emulator", "credentials"], "required: NAME", "needs the learners' names"),
        (["emulator", "credentials", "ana", "--hours", "0"], "0 is not a number more than 0", "--hours"),
        (["emulator", "credentials", "Ana B"], "'Ana B' is not a valid learner name", "1 to 12 lower-case"),
        (["learner", "-x"], "unrecognized arguments: -x", "does not take"),
        (["target", "gcp"], "invalid choice: 'gcp'", "'emulator'"),
        (["lab", "rules"], "required: HOST", "lab rules needs one host"),
        (["lab", "probe", "internet", "i-0abc"], "required: PORT", "lab probe needs FROM TO PORT"),
        (["lab", "probe", "internet", "i-0abc", "http"], "invalid port value: 'http'", "lab probe needs FROM TO PORT"),
        (["lab", "probe", "internet", "i-0abc", "80", "--proto", "icmp"], "invalid choice: 'icmp'", "FROM TO PORT"),
        (["lab", "curl"], "required: URL", "lab curl needs one URL"),
        (["audit", "--host-ports", "65535-80"], "--host-ports '65535-80' is not a port range", "lower first"),
        (["audit", "--all", "--learner", "ana"], "not allowed with argument", "at most one of"),
        (["override", "no/such/folder"], "no/such/folder is not a folder", "Terraform folder"),
    ],
)
def test_a_bad_command_line_is_one_message_what_why_fix(argv, what, why, capsys):
    """argparse checks the arguments; what it refuses is the course's three lines, exit 2, nothing run."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith("✗ ") and lines[1].startswith("  Why: ") and lines[2].startswith("  Fix: "), err
    assert what in lines[0] and why in err and "Traceback" not in err and "usage:" not in err, err


def test_a_new_action_is_one_decorated_function(monkeypatch):
    """How another lab action joins (e.g. one that runs a program in a namespace): a function and its line."""
    group = parsing.Commands("demo", "a group of actions", dest="action")

    @group.command(
        "exec",
        "run a program",
        parsing.arg("--from", dest="source", default="internet"),
        parsing.arg("command", nargs="+", metavar="COMMAND"),
    )
    def run_program(args) -> int:
        return 7 if args.command == ["curl", "-s", "--max-time", "3", "http://x/"] else 1

    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, group))
    args = cli.build_parser().parse_args(
        ["demo", "exec", "--from", "i-1", "--", "curl", "-s", "--max-time", "3", "http://x/"]
    )
    assert (args.action, args.source, args.run) == ("exec", "i-1", run_program)
    assert cli.main(["demo", "exec", "--", "curl", "-s", "--max-time", "3", "http://x/"]) == 7
