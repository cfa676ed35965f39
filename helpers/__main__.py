"""python -m helpers: the course's command line.

    python -m helpers doctor                     is everything ready?
    python -m helpers emulator start|stop|status|reset
    python -m helpers target [emulator|aws]      show or choose the target
    python -m helpers terraform STACK ARGS...    run terraform in a stack folder
    python -m helpers env                        shell exports to use the same
                                                 terraform and emulator by hand
    python -m helpers override FOLDER            point FOLDER's aws provider at the
                                                 current target (generated file)
    python -m helpers notebooks [PATH...]        (maintainers) re-execute notebooks
    python -m helpers site [OUT]                 (instructors) the course as a static web site
    python -m helpers slides [OUT] [-n NB]...    (instructors) reveal.js slides, one deck per notebook
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys

from .errors import CourseError


def _emulator(args) -> int:
    from . import emulator

    if args.action == "start":
        print(f"Emulator running at {emulator.start()}")
    elif args.action == "stop":
        print("Emulator stopped." if emulator.stop() else "Emulator was not running.")
    elif args.action == "reset":
        emulator.reset()
        print("Emulator reset: it holds no resources now. Terraform states in the workspace "
              "still list the old ones; destroy or re-apply them.")
    else:
        state = emulator.status()
        if state["running"]:
            print(f"Emulator running at {state['url']} (pid {state['pid']}, workspace {state['workspace']})")
        else:
            print("Emulator not running. Start it: python -m helpers emulator start")
            return 1
    return 0


def _target(args) -> int:
    from . import targets

    if args.name:
        targets.use(args.name)
    name = targets.current()
    if name == "aws":
        from . import aws

        aws.require_credentials()
    else:
        print("Target: emulator (the local AWS emulator; no AWS account is used).")
    if os.environ.get("COURSE_TARGET") and args.name and os.environ["COURSE_TARGET"] != args.name:
        print(f"Note: COURSE_TARGET={os.environ['COURSE_TARGET']} in your environment wins over the saved choice.")
    return 0


def _terraform(args) -> int:
    from . import terraform

    from . import aws, targets

    folder = terraform.stack_dir(args.stack)
    if not targets.is_emulator():
        aws.require_credentials()
    terraform.write_target_override(folder)
    return subprocess.call([str(terraform.executable()), *args.args], cwd=folder, env=terraform.environment())


def _env(args) -> int:
    from . import aws, targets, terraform

    env = terraform.environment()
    lines = [
        f"export PATH={shlex.quote(env['PATH'].split(os.pathsep)[0])}:\"$PATH\"",
        f"export TF_CLI_CONFIG_FILE={shlex.quote(env['TF_CLI_CONFIG_FILE'])}",
        "export CHECKPOINT_DISABLE=1",
    ]
    if targets.is_emulator():
        lines += [
            f"export AWS_ENDPOINT_URL={shlex.quote(aws.endpoint_url())}",
            f"export AWS_ACCESS_KEY_ID={targets.DUMMY_KEY} AWS_SECRET_ACCESS_KEY={targets.DUMMY_KEY}",
            f"export AWS_REGION={targets.region()}",
            "unset AWS_PROFILE AWS_SESSION_TOKEN",
        ]
    print("\n".join(lines))
    return 0


def _override(args) -> int:
    from pathlib import Path

    from . import targets, terraform, workspace

    folder = Path(args.folder)
    if not folder.is_dir():
        raise CourseError(f"{args.folder} is not a folder.", "The override file is written into a Terraform folder.",
                          "name the folder that holds your .tf files, e.g.: python -m helpers override terraform")
    terraform.write_target_override(folder)
    path = folder / terraform.OVERRIDE_FILE
    if targets.is_emulator():
        print(f"Wrote {workspace.relative(path)}: the aws provider in {args.folder} now uses the emulator "
              "(delete the file, or switch target and run this again, to use real AWS).")
    else:
        print(f"Target is aws: no override in {args.folder}; the provider uses your AWS credentials.")
    return 0


def _shown(path) -> str:
    """A path as the user can type it: relative to here when below here, else absolute."""
    from pathlib import Path

    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _site(args) -> int:
    from pathlib import Path

    from . import site

    index = site.build_site(Path(args.out) if args.out else None)
    print(f"Site built: open {_shown(index)} in a browser (no network needed).\n"
          f"Search works when it is served: python -m http.server --directory {_shown(index.parent)} 8000")
    return 0


def _slides(args) -> int:
    from pathlib import Path

    from . import site

    index = site.build_slides(Path(args.out) if args.out else None,
                              [Path(p) for p in args.notebook] if args.notebook else None)
    print(f"Slides built: {_shown(index)} lists the decks (open one in a browser; "
          "S opens the speaker view).")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check that everything is ready")
    em = sub.add_parser("emulator", help="start, stop, inspect or reset the local AWS emulator")
    em.add_argument("action", choices=["start", "stop", "status", "reset"])
    tg = sub.add_parser("target", help="show or choose where resources are created")
    tg.add_argument("name", nargs="?", choices=["emulator", "aws"])
    tf = sub.add_parser("terraform", help="run terraform in a stack folder of the workspace")
    tf.add_argument("stack")
    tf.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("env", help="print shell exports for using terraform and the emulator by hand")
    ov = sub.add_parser("override", help="point the aws provider of a Terraform folder at the current target")
    ov.add_argument("folder")
    nbs = sub.add_parser("notebooks", help="(maintainers) re-execute notebooks and save fresh outputs")
    nbs.add_argument("paths", nargs="*")
    st = sub.add_parser("site", help="(instructors) render the course to a static HTML site")
    st.add_argument("out", nargs="?", help="output folder (default: <workspace>/site)")
    sl = sub.add_parser("slides", help="(instructors) reveal.js slides from the notebooks")
    sl.add_argument("out", nargs="?", help="output folder (default: <workspace>/slides)")
    sl.add_argument("-n", "--notebook", action="append", metavar="NOTEBOOK",
                    help="only this notebook (repeatable; default: all)")
    args = parser.parse_args(argv)
    try:
        if args.command == "notebooks":
            from pathlib import Path

            from . import notebooks

            notebooks.refresh([Path(p).resolve() for p in args.paths] or None)
            return 0
        if args.command == "doctor":
            from . import doctor

            return doctor.main()
        return {"emulator": _emulator, "target": _target, "terraform": _terraform, "env": _env,
                "override": _override, "site": _site, "slides": _slides}[args.command](args)
    except CourseError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
