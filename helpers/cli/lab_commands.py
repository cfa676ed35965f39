"""python -m helpers lab ACTION: the traffic lab, the course's stack carrying real packets (helpers/lab/).

A new lab command is one function here, registered on ``LAB`` with its help line and arguments
(helpers/cli/parsing.py shows how); ``python -m helpers lab --help`` then lists it.
"""

from __future__ import annotations

import argparse

from ..lab import model as lab_model
from ..lab.control import commands as lab_control
from ..lab.net import exec as lab_exec
from ..lab.net import probe as lab_probe
from .parsing import Commands, arg, port, positive

LAB = Commands("lab", "the traffic lab: the stack carrying real packets (Linux, root)", dest="action")
WHERE = "'internet', an instance id (i-…) or an ALB node"


@LAB.command("up", "build the lab from the emulator's stack and keep it following the emulator (idempotent)")
def up(args) -> int:
    lab_control.up(quiet=True)
    print(lab_control.status_text())
    return 0


@LAB.command("down", "remove every namespace and process of the lab")
def down(args) -> int:
    removed = lab_control.down()
    print(f"Lab down: {len(removed)} namespaces removed." if removed else "Lab down (nothing was left).")
    return 0


@LAB.command("status", "whether the lab runs, and its hosts and programs")
def status(args) -> int:
    print(lab_control.status_text())
    return 0


@LAB.command(
    "rules",
    "one host's security group rules beside the nftables rules they compile to",
    arg("host", metavar="HOST", help="an instance id (i-…) or an ALB node"),
    why="lab rules needs one host: it prints one host's compiled rules.",
    fix="python -m helpers lab rules i-0abc…",
)
def rules(args) -> int:
    print(lab_control.rules(args.host))
    return 0


@LAB.command(
    "probe",
    "a real connection from FROM to TO's PORT: reachable, refused, or blocked",
    arg("source", metavar="FROM", help=f"where the connection starts: {WHERE}"),
    arg("destination", metavar="TO", help=f"where it goes: {WHERE}"),
    arg("port", metavar="PORT", type=port, help="the port on TO"),
    arg("--proto", default="tcp", choices=["tcp", "udp"], help="the protocol (default tcp)"),
    arg("--timeout", type=positive, default=1.0, help="seconds before 'blocked' (default 1)"),
    why=f"lab probe needs FROM TO PORT: FROM and TO are {WHERE}; PORT a number 0-65535 "
    "(--timeout: seconds, more than 0).",
    fix="python -m helpers lab probe internet i-0abc… 32768",
)
def probe(args) -> int:
    model = lab_model.read()
    print(lab_probe.probe(model, args.source, args.destination, args.port, args.proto, timeout=args.timeout))
    return 0


@LAB.command(
    "curl",
    "one request through the lab: status, headers, certificate, time (exit 1 if none came back)",
    arg("url", metavar="URL", help="e.g. https://app.ecs-alb.example/ (the lab's DNS answers the course's names)"),
    arg(
        "--from",
        dest="source",
        metavar="FROM",
        default="internet",
        help=f"where the request starts: {WHERE} (default internet)",
    ),
    arg("--insecure", "-k", action="store_true", help="do not verify the certificate (as curl -k)"),
    arg("--timeout", type=positive, default=15.0, help="seconds to wait for the answer (default 15)"),
    why="lab curl needs one URL: it sends one request through the lab, from the internet or a lab host.",
    fix="python -m helpers lab curl https://app.ecs-alb.example/ [--from internet|i-…]",
)
def curl(args) -> int:
    reply = lab_control.curl(args.url, args.source, timeout=args.timeout, insecure=args.insecure)
    print(repr(reply))
    return 0 if reply.status else 1


@LAB.command(
    "exec",
    "any program of this machine inside a lab namespace, with the lab's DNS (curl, openssl, dig, ab)",
    arg("--from", dest="source", metavar="FROM", default="internet", help=f"where it runs: {WHERE} (default internet)"),
    # Every word from the program's name on is the program's, its options included; a '--' before it is optional.
    arg("command", nargs=argparse.REMAINDER, metavar="-- COMMAND...", help="the program and its arguments"),
    why="lab exec runs one program of this machine inside a lab namespace: its words come after --.",
    fix=lab_exec.EXAMPLE,
)
def run_program(args) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return lab_exec.main(command, args.source)
