"""The command line's parts: a parser whose errors are the course's three lines, commands as functions, converters.

A command is one function ``run(args) -> exit code``, registered with its help line and its arguments::

    LAB = Commands("lab", "the traffic lab: ...", dest="action")

    @LAB.command("rules", "one host's security groups as compiled nftables rules", arg("host", metavar="HOST"),
                 why="lab rules prints one host's compiled rules.", fix="python -m helpers lab rules i-0abc…")
    def rules(args) -> int: ...

argparse checks the arguments (required positionals, choices, ``type=`` converters) before the function runs.
What it refuses is one ``CourseError``, as everywhere in the course: what argparse found (``Parser.error``), why
(the command's ``why``: what it takes) and the fix (its ``fix``: an example). A converter whose value has a
message of its own (a learner name, a port range, a folder) raises that ``CourseError`` itself: argparse lets
it through (it catches only ``ValueError``, ``TypeError`` and ``ArgumentTypeError``), and ``cli.main`` prints it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CourseError
from ..runtime import learner


class Parser(argparse.ArgumentParser):
    """argparse's parser, with a ``why`` and a ``fix`` for its errors; it refuses arguments it does not know."""

    def __init__(self, *args, why: str = "", fix: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.why = why or f"{self.prog} does not take these arguments."
        self.fix = fix or f"{self.prog} --help"

    def error(self, message: str):
        raise CourseError(f"{self.prog}: {message}.", self.why, self.fix)

    def parse_known_args(self, args=None, namespace=None):
        # A subcommand's unknown argument is refused by the subcommand, whose why and fix fit it
        # (argparse would hand it to the top parser, which knows only that some argument was unknown).
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


@dataclass(frozen=True)
class Argument:
    """One ``add_argument`` call, written beside the command that takes it."""

    flags: tuple[str, ...]
    options: dict

    def add_to(self, parser) -> None:
        parser.add_argument(*self.flags, **self.options)


def arg(*flags: str, **options) -> Argument:
    return Argument(flags, options)


@dataclass(frozen=True)
class OneOf:
    """Arguments of which at most one may be given."""

    arguments: tuple[Argument, ...]

    def add_to(self, parser) -> None:
        group = parser.add_mutually_exclusive_group()
        for argument in self.arguments:
            argument.add_to(group)


def one_of(*arguments: Argument) -> OneOf:
    return OneOf(arguments)


@dataclass
class Command:
    name: str
    help: str  # its one line in --help
    run: Callable[[argparse.Namespace], int]
    arguments: tuple[Argument | OneOf, ...]
    why: str
    fix: str

    def add_to(self, subparsers) -> None:
        parser = subparsers.add_parser(self.name, help=self.help, description=self.help, why=self.why, fix=self.fix)
        for argument in self.arguments:
            argument.add_to(parser)
        parser.set_defaults(run=self.run)


@dataclass
class Commands:
    """Commands, in the order --help lists them; named, a group of them under one word (``lab up``, ``lab down``)."""

    name: str = ""
    help: str = ""
    dest: str = "action"  # a group's: the attribute that holds which of its commands was given
    entries: list[Command] = field(default_factory=list)

    def command(self, name: str, help: str, *arguments: Argument | OneOf, why: str = "", fix: str = ""):
        """Register the decorated function as the command ``name``."""

        def register(run: Callable[[argparse.Namespace], int]):
            self.entries.append(Command(name, help, run, arguments, why, fix))
            return run

        return register

    def add_to(self, subparsers) -> None:
        if not self.name:
            for entry in self.entries:
                entry.add_to(subparsers)
            return
        group = subparsers.add_parser(
            self.name,
            help=self.help,
            description=self.help,
            why=f"{self.name} takes one of its commands first ({', '.join(e.name for e in self.entries)}).",
        )
        inner = group.add_subparsers(dest=self.dest, required=True, metavar="ACTION", title="commands")
        for entry in self.entries:
            entry.add_to(inner)


# ---------------------------------------------------------------------------------------------- converters
# Each turns one argument's text into its value; a bad value is argparse's error or a CourseError of its own.


def port(text: str) -> int:
    """A TCP/UDP port number, 0-65535 (argparse names the argument when it is not)."""
    value = int(text)  # ValueError: argparse says "invalid port value"
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0-65535)")
    return value


def positive(text: str) -> float:
    """A number more than zero (seconds, hours)."""
    value = float(text)  # ValueError: argparse says "invalid positive value"
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not a number more than 0")
    return value


def learner_name(text: str) -> str:
    return learner.check(text.strip())


def port_range(example: tuple[int, int]) -> Callable[[str], tuple[int, int]]:
    """A converter of ``LOW-HIGH`` into (low, high); ``example`` is the range its fix line shows."""

    def port_range(text: str) -> tuple[int, int]:
        low, _, high = text.partition("-")
        if not (low.isdigit() and high.isdigit() and 0 <= int(low) <= int(high) <= 65535):
            raise CourseError(
                f"--host-ports {text!r} is not a port range.",
                "It must be two ports 0-65535, the lower first, joined by a dash.",
                "python -m helpers audit --host-ports {}-{}".format(*example),
            )
        return int(low), int(high)

    return port_range


def folder(text: str) -> Path:
    """A folder that exists (for ``override``: the Terraform folder the file is written into)."""
    if not Path(text).is_dir():
        raise CourseError(
            f"{text} is not a folder.",
            "The override file is written into a Terraform folder.",
            "name the folder that holds your .tf files, e.g.: python -m helpers override terraform",
        )
    return Path(text)
