"""python -m helpers: the course's command line, one line per command below (COMMAND --help: its options)."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from . import course, workspace
from .course import doctor, inventory, session
from .errors import CourseError
from .exercises import generator
from .lab import control as lab_control
from .lab import exec as lab_exec
from .lab import model as lab_model
from .lab import probe as lab_probe
from .publishing import notebooks, site, slides
from .runtime import aws, cloud, emulator, learner
from .tf import override, state, toolchain
from .tf.state import stack_dir
from .verify import audit
from .workshop import facilitator, room


def _emulator(args) -> int:
    if args.action == "credentials":
        args.names = [args.url, *args.names] if args.url else args.names
    elif args.names:
        raise CourseError(
            f"emulator {args.action} takes at most one argument.",
            "Only 'use' takes an address, and only 'credentials' takes several learner names.",
            "python -m helpers emulator --help",
        )
    if args.action == "serve" and args.url:
        raise CourseError(
            "serve takes no address.",
            "The address to listen on is given with --host.",
            "python -m helpers emulator serve --host 0.0.0.0 --port 4850",
        )
    if args.action == "use":
        if not args.url:
            raise CourseError(
                "emulator use needs the room emulator's address.",
                "It names the instructor's emulator, or 'local' for your own.",
                "python -m helpers emulator use http://192.168.1.20:4850   (or: ... use local)",
            )
        print(room.use(args.url, key=args.key, secret=args.secret))
    elif args.action == "serve":
        url = room.serve(host=args.host or "0.0.0.0", port=args.port)
        print(
            f"Room emulator running at {url}. Each learner gets an account of their own: give everyone a\n"
            "credential, e.g. python -m helpers emulator credentials ana ben chen\n"
            "It serves only requests signed with a credential you issued. Its traffic is plain HTTP: serve it on\n"
            "a network you trust (a classroom LAN or VPN), and stop it afterwards: python -m helpers emulator stop"
        )
    elif args.action == "credentials":
        if not args.names:
            raise CourseError(
                "emulator credentials needs the learners' names.",
                "Each learner gets a credential, and an account of their own, by name.",
                "python -m helpers emulator credentials ana ben chen",
            )
        url = room.room_address()
        for name, given in room.issue(args.names, hours=args.hours):
            print(f"{name}: {room.use_line(url, given)}")
        print(f"Valid for {args.hours:g} hours. Hand each learner their own line; issuing again replaces it.")
    elif args.action == "start":
        print(f"Emulator running at {emulator.start()}")
    elif args.action == "stop":
        if emulator.in_room():
            print(f"This workspace uses the room's emulator at {emulator.room_url()}: only the instructor stops it.")
        print("Emulator stopped." if emulator.stop() else "Emulator was not running.")
    elif args.action == "reset":
        emulator.reset(everyone=args.everyone)
        print(
            "Emulator reset: it holds no resources now. Terraform states in the workspace "
            "still list the old ones; destroy or re-apply them (a later restart of the emulator "
            "does not re-create them)."
        )
    else:
        status = emulator.status()
        if status["room"]:
            if status["running"]:
                print(f"Using the room's emulator at {status['url']} (shared; learner {_learner_name()}).")
            else:
                print(emulator.room_down(status["url"]).render())
                return 1
        elif status["running"]:
            if status["serving"]:
                print(
                    f"Emulator served to the room at {status['url']} (pid {status['pid']}, "
                    f"workspace {status['workspace']}); learners use it with: "
                    f"python -m helpers emulator use {room.room_address()}"
                )
                return 0
            print(f"Emulator running at {status['url']} (pid {status['pid']}, workspace {status['workspace']})")
        else:
            print("Emulator not running. Start it: python -m helpers emulator start")
            return 1
    return 0


def _learner_name() -> str:
    return learner.current()


def _learner(args) -> int:
    if args.name:
        learner.use(args.name)
    name = learner.current()
    print(f"Learner: {name}. It prefixes your resource names (ecs-alb-{name}-...) and tags them learner={name}.")
    if args.name and os.environ.get(learner.ENV) and os.environ[learner.ENV] != args.name:
        print(f"Note: {learner.ENV}={os.environ[learner.ENV]} in your environment wins over the saved name.")
    if name == learner.DEFAULT and emulator.in_room():
        print("You share the room's emulator: choose a name of your own (python -m helpers learner NAME).")
    return 0


def _facilitator(args) -> int:
    print(facilitator.table(facilitator.progress()))
    return 0


def _target(args) -> int:
    if args.name:
        cloud.use(args.name)
    name = cloud.current()
    if name == "aws":
        session.current().before_terraform(workspace.path("stacks", "course"), "plan")  # the account and costs
    else:
        print("Target: emulator (the local AWS emulator; no AWS account is used).")
    if os.environ.get("COURSE_TARGET") and args.name and os.environ["COURSE_TARGET"] != args.name:
        print(f"Note: COURSE_TARGET={os.environ['COURSE_TARGET']} in your environment wins over the saved choice.")
    return 0


def _terraform(args) -> int:
    folder = stack_dir(args.stack)
    command = next((a for a in args.args if not a.startswith("-")), "")
    session.current().before_terraform(folder, command)  # the account and costs on AWS, as in a notebook
    override.write_target_override(folder)
    if command in state.RISKY:
        state.before(args.stack, command, folder)
    return subprocess.call([str(toolchain.executable()), *args.args], cwd=folder, env=toolchain.environment())


def _leftovers(args) -> int:
    who = f"learner {args.learner}" if args.learner else "any learner"
    if cloud.is_emulator():
        if not os.environ.get("AWS_ENDPOINT_URL") and not emulator.status()["running"]:
            print("The emulator is not running, so it holds nothing: no course resources to find.")
            return 0
        place = f"the emulator ({aws.endpoint_url()}), region {cloud.region()}"
    else:
        who_am_i = aws.require_credentials()
        place = f"AWS account {who_am_i['account']}, region {who_am_i['region']} (and the global IAM and Route 53)"
    found = inventory.leftovers(args.learner)
    if not found:
        print(f"Nothing tagged course={inventory.COURSE_TAG[1]} ({who}) in {place}.")
        return 0
    print(
        f"{len(found)} resource{'s' if len(found) > 1 else ''} tagged course={inventory.COURSE_TAG[1]} "
        f"({who}) in {place}:"
    )
    for line in found:
        print(f"  {line}")
    print(
        "Delete them: run notebooks/10-teardown.ipynb (it destroys the course stack), "
        "or delete by hand what no stack manages."
    )
    return 1


def _env(args) -> int:
    session.current().note_ignored_credentials()  # on stderr: stdout stays exports
    env = toolchain.environment()
    lines = [
        f'export PATH={shlex.quote(env["PATH"].split(os.pathsep)[0])}:"$PATH"',
        f"export TF_CLI_CONFIG_FILE={shlex.quote(env['TF_CLI_CONFIG_FILE'])}",
        "export CHECKPOINT_DISABLE=1",
        f"export TF_VAR_learner={shlex.quote(env['TF_VAR_learner'])}",
    ]
    if cloud.is_emulator():
        lines += [
            f"export AWS_ENDPOINT_URL={shlex.quote(aws.endpoint_url())}",
            "export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}".format(*map(shlex.quote, emulator.credentials())),
            # boto3 and the AWS CLI read AWS_DEFAULT_REGION; Terraform and the SDKs of other languages AWS_REGION.
            f"export AWS_REGION={cloud.region()} AWS_DEFAULT_REGION={cloud.region()}",
            "unset AWS_PROFILE AWS_SESSION_TOKEN",
        ]
    print("\n".join(lines))
    return 0


def _override(args) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise CourseError(
            f"{args.folder} is not a folder.",
            "The override file is written into a Terraform folder.",
            "name the folder that holds your .tf files, e.g.: python -m helpers override terraform",
        )
    override.write_target_override(folder)
    path = folder / override.OVERRIDE_FILE
    if cloud.is_emulator():
        print(
            f"Wrote {workspace.relative(path)}: the aws provider in {args.folder} now uses the emulator "
            "(delete the file, or switch target and run this again, to use real AWS)."
        )
    else:
        print(f"Target is aws: no override in {args.folder}; the provider uses your AWS credentials.")
    return 0


def _audit(args) -> int:
    ports = None
    if args.host_ports:
        low, _, high = args.host_ports.partition("-")
        if not (low.isdigit() and high.isdigit() and 0 <= int(low) <= int(high) <= 65535):
            raise CourseError(
                f"--host-ports {args.host_ports!r} is not a port range.",
                "It must be two ports 0-65535, the lower first, joined by a dash.",
                "python -m helpers audit --host-ports {}-{}".format(*course.HOST_PORT_RANGE),
            )
        ports = (int(low), int(high))
    return audit.main(args.learner, args.json, ports, load_balancer=args.load_balancer, every_balancer=args.all)


def _lab(args) -> int:
    if args.action == "up":
        lab_control.up(quiet=True)
        print(lab_control.status_text())
    elif args.action == "down":
        removed = lab_control.down()
        print(f"Lab down: {len(removed)} namespaces removed." if removed else "Lab down (nothing was left).")
    elif args.action == "status":
        print(lab_control.status_text())
    elif args.action == "rules":
        if len(args.args) != 1:
            raise CourseError(
                "lab rules needs one host.",
                "It prints one host's compiled rules.",
                "python -m helpers lab rules i-0abc…",
            )
        print(lab_control.rules(args.args[0]))
    elif args.action == "probe":
        if len(args.args) != 3 or not args.args[2].isdigit():
            raise CourseError(
                "lab probe needs FROM TO PORT.",
                "FROM and TO are 'internet', an instance id or an ALB node; PORT a number.",
                "python -m helpers lab probe internet i-0abc… 32768",
            )
        src, dst, port = args.args
        print(lab_probe.probe(lab_model.read(), src, dst, int(port), args.proto, timeout=args.timeout))
    elif args.action == "curl":
        if len(args.args) != 1:
            raise CourseError(
                "lab curl needs one URL.",
                "It sends one request through the lab, from the internet or a lab host.",
                "python -m helpers lab curl https://app.ecs-alb.example/ [--from internet|i-…]",
            )
        reply = lab_control.curl(args.args[0], args.source, timeout=max(args.timeout, 15.0), insecure=args.insecure)
        print(repr(reply))
        return 0 if reply.status else 1
    elif args.action == "exec":
        return lab_exec.main(args.args, args.source)
    return 0


def _shown(path) -> str:
    """A path as the user can type it: relative to here when below here, else absolute."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _site(args) -> int:
    index = site.build_site(Path(args.out) if args.out else None)
    print(
        f"Site built: open {_shown(index)} in a browser (no network needed).\n"
        f"Search works when it is served: python -m http.server --directory {_shown(index.parent)} 8000"
    )
    return 0


def _slides(args) -> int:
    index = slides.build_slides(
        Path(args.out) if args.out else None, [Path(p) for p in args.notebook] if args.notebook else None
    )
    print(f"Slides built: {_shown(index)} lists the decks (open one in a browser; S opens the speaker view).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Every command and its options: the command reference (python -m helpers --help)."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check that everything is ready")
    em = sub.add_parser("emulator", help="start, stop, inspect or reset the local AWS emulator")
    em.add_argument("action", choices=["start", "stop", "status", "reset", "serve", "use", "credentials"])
    em.add_argument("url", nargs="?", help="use: the room emulator's URL, or 'local'; credentials: learner names")
    em.add_argument("names", nargs="*", help=argparse.SUPPRESS)
    em.add_argument("--key", help="use: your room credential's key")
    em.add_argument("--secret", help="use: your room credential's secret")
    em.add_argument("--hours", type=float, default=12, help="credentials: how long they are valid (default 12)")
    em.add_argument("--host", help="serve: the address to listen on (default 0.0.0.0: every interface)")
    em.add_argument("--port", type=int, help="serve: the port (default: 4850, or a free one)")
    em.add_argument("--everyone", action="store_true", help="reset: also the emulator served to a room")
    ln = sub.add_parser("learner", help="show or set your learner name (it namespaces your resources)")
    ln.add_argument("name", nargs="?")
    sub.add_parser("facilitator", help="instructor: every learner's progress, read from the tagged resources")
    tg = sub.add_parser("target", help="show or choose where resources are created")
    tg.add_argument("name", nargs="?", choices=["emulator", "aws"])
    tf = sub.add_parser("terraform", help="run terraform in a stack folder of the workspace")
    tf.add_argument("stack")
    tf.add_argument("args", nargs=argparse.REMAINDER)
    lo = sub.add_parser(
        "leftovers", help="list what the course tagged in the current target (exit 1 if anything is left)"
    )
    lo.add_argument("--learner", help="only this learner's resources (default: every learner's)")
    sub.add_parser("env", help="print shell exports for using terraform and the emulator by hand")
    ov = sub.add_parser("override", help="point the aws provider of a Terraform folder at the current target")
    ov.add_argument("folder")
    au = sub.add_parser("audit", help="reachability audit of a load balancer and the instances behind it")
    which = au.add_mutually_exclusive_group()
    which.add_argument("--learner", help="the course's load balancer of this learner (default: this workspace's)")
    which.add_argument("--load-balancer", metavar="NAME|ARN", help="any Application Load Balancer, tagged or not")
    which.add_argument("--all", action="store_true", help="every Application Load Balancer in the region")
    au.add_argument("--json", action="store_true", help="print the report as JSON")
    low, high = course.HOST_PORT_RANGE
    au.add_argument("--host-ports", help=f"the dynamic host port range you use (default {low}-{high})")
    lb = sub.add_parser("lab", help="the traffic lab: the stack carrying real packets (Linux, root)")
    lb.add_argument("action", choices=["up", "down", "status", "rules", "probe", "curl", "exec"])
    lb.add_argument(
        "args",
        nargs="*",
        help="rules: HOST; probe: FROM TO PORT (FROM/TO: internet, i-…, an ALB node); curl: URL; exec: -- COMMAND…",
    )
    lb.add_argument("--insecure", "-k", action="store_true", help="curl: do not verify the certificate (as curl -k)")
    lb.add_argument("--from", dest="source", default="internet", help="curl, exec: where it runs (default internet)")
    lb.add_argument("--proto", default="tcp", choices=["tcp", "udp"], help="probe: the protocol (default tcp)")
    lb.add_argument("--timeout", type=float, default=1.0, help="probe: seconds before 'blocked' (default 1)")
    nbs = sub.add_parser("notebooks", help="(maintainers) re-execute notebooks and save fresh outputs")
    nbs.add_argument("paths", nargs="*")
    ex = sub.add_parser("exercises", help="(maintainers) generate the exercise notebooks from the solutions")
    ex.add_argument("--check", action="store_true", help="write nothing; exit 1 if the exercises are out of date")
    st = sub.add_parser("site", help="(instructors) render the course to a static HTML site")
    st.add_argument("out", nargs="?", help="output folder (default: <workspace>/site)")
    sl = sub.add_parser("slides", help="(instructors) reveal.js slides from the notebooks")
    sl.add_argument("out", nargs="?", help="output folder (default: <workspace>/slides)")
    sl.add_argument(
        "-n", "--notebook", action="append", metavar="NOTEBOOK", help="only this notebook (repeatable; default: all)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command == "lab" and args.action == "exec":  # lab exec --from HOST -- COMMAND…: COMMAND
        args.args += rest[1:] if rest[0] == "--" else rest  # after an option comes back unparsed
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    # A terminal command never re-applies stacks behind your back: its own session, recovery off
    # (``python -m helpers env`` is eval'd by a shell, and its output must stay exports).
    with session.using(session.Session(automatic_recovery=False)):
        return _run(args)


def _run(args) -> int:
    try:
        if args.command == "exercises":
            stale = generator.generate(check=args.check)
            if args.check and stale:
                print("Out of date (run: python -m helpers exercises):", *stale, sep="\n  ")
                return 1
            print(
                f"{'Would write' if args.check else 'Wrote'} {len(stale)} exercise notebook(s)"
                if stale
                else "The exercise notebooks are up to date."
            )
            return 0
        if args.command == "notebooks":
            notebooks.refresh([Path(p).resolve() for p in args.paths] or None)
            return 0
        if args.command == "doctor":
            return doctor.main()
        return {
            "emulator": _emulator,
            "target": _target,
            "terraform": _terraform,
            "env": _env,
            "override": _override,
            "audit": _audit,
            "lab": _lab,
            "leftovers": _leftovers,
            "learner": _learner,
            "facilitator": _facilitator,
            "site": _site,
            "slides": _slides,
        }[args.command](args)
    except CourseError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
