"""python -m helpers: the course's command line, one line per command below (COMMAND --help: its options).

One function per command, in the module of its kind: setup_commands (doctor, learner, target, terraform, env,
override), emulator_commands (emulator ACTION), lab_commands (lab ACTION), hub_commands (hub ACTION),
report_commands (leftovers, audit, facilitator), publishing_commands (notebooks, exercises, site, slides);
parsing.py holds the parts.

Built on argparse's subcommands (``set_defaults(run=...)``), not click: argparse is in the standard library,
so the learner's environment gains no package; it already parsed these commands, so every command line
printed in the notebooks, the READMEs and the course's own fix lines reads the same; and its parser can be
asked what it accepts (tests/delivery/test_cli.py reads every command's help line from it, and
tests/workshop/test_room.py parses the credentials lines an instructor hands out with it).
"""

from __future__ import annotations

import argparse
import sys

from ..course import session
from ..errors import CourseError
from .emulator_commands import EMULATOR
from .hub_commands import HUB
from .lab_commands import LAB
from .parsing import Parser
from .publishing_commands import PUBLISHING
from .report_commands import REPORTS
from .setup_commands import SETUP

# In the order --help lists them.
COMMANDS = (SETUP, EMULATOR, LAB, HUB, REPORTS, PUBLISHING)


def build_parser() -> Parser:
    """Every command and its options: the command reference (python -m helpers --help)."""
    parser = Parser(
        prog="python -m helpers",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        why="each command takes its own arguments; --help lists the commands, COMMAND --help a command's.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    for commands in COMMANDS:
        commands.add_to(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command line; its exit code (2: the command line or the course refused it, with the reason)."""
    try:
        args = build_parser().parse_args(argv)
        # A terminal command never re-applies stacks behind your back: its own session, recovery off
        # (``python -m helpers env`` is eval'd by a shell, and its output must stay exports).
        with session.using(session.Session(automatic_recovery=False)):
            return args.run(args)
    except CourseError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
