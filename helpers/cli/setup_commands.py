"""python -m helpers doctor | learner | target | env | override | terraform: this machine and workspace, set up."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess

from .. import workspace
from ..course import doctor, session
from ..runtime import aws, cloud, emulator, learner
from ..tf import override, state, toolchain
from .parsing import Commands, arg, folder, learner_name

SETUP = Commands()


@SETUP.command("doctor", "check that everything is ready")
def check_readiness(args) -> int:
    return doctor.main()


@SETUP.command(
    "learner",
    "show or set your learner name (it namespaces your resources)",
    arg("name", nargs="?", metavar="NAME", type=learner_name, help="1 to 12 lower-case letters or digits, e.g. ana"),
)
def show_or_set_learner(args) -> int:
    if args.name:
        learner.use(args.name)
    name = learner.current()
    print(f"Learner: {name}. It prefixes your resource names (ecs-alb-{name}-...) and tags them learner={name}.")
    if args.name and os.environ.get(learner.ENV) and os.environ[learner.ENV] != args.name:
        print(f"Note: {learner.ENV}={os.environ[learner.ENV]} in your environment wins over the saved name.")
    if name == learner.DEFAULT and emulator.in_room():
        print("You share the room's emulator: choose a name of your own (python -m helpers learner NAME).")
    return 0


@SETUP.command(
    "target",
    "show or choose where resources are created",
    arg("name", nargs="?", metavar="NAME", choices=["emulator", "aws"], help="emulator (the default) or aws"),
    why="the target is 'emulator' (the local AWS emulator) or 'aws' (your AWS account).",
    fix="python -m helpers target emulator   (or: python -m helpers target aws)",
)
def show_or_choose_target(args) -> int:
    if args.name:
        cloud.use(args.name)
    if cloud.current() == "aws":
        session.current().before_terraform(workspace.path("stacks", "course"), "plan")  # the account and costs
    else:
        print("Target: emulator (the local AWS emulator; no AWS account is used).")
    if os.environ.get("COURSE_TARGET") and args.name and os.environ["COURSE_TARGET"] != args.name:
        print(f"Note: COURSE_TARGET={os.environ['COURSE_TARGET']} in your environment wins over the saved choice.")
    return 0


@SETUP.command(
    "terraform",
    "run terraform in a stack folder of the workspace",
    arg("stack", metavar="STACK", help="the stack's name, e.g. course"),
    arg("args", nargs=argparse.REMAINDER, metavar="ARGS", help="terraform's own arguments, e.g. state list"),
    why="terraform needs the stack to run in, then terraform's own arguments.",
    fix="python -m helpers terraform course state list",
)
def run_terraform(args) -> int:
    stack = state.stack_dir(args.stack)
    command = next((a for a in args.args if not a.startswith("-")), "")
    session.current().before_terraform(stack, command)  # the account and costs on AWS, as in a notebook
    override.write_target_override(stack)
    if command in state.RISKY:
        state.before(args.stack, command, stack)
    return subprocess.call([str(toolchain.executable()), *args.args], cwd=stack, env=toolchain.environment())


@SETUP.command("env", "print shell exports for using terraform and the emulator by hand")
def print_exports(args) -> int:
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


@SETUP.command(
    "override",
    "point the aws provider of a Terraform folder at the current target",
    arg("folder", metavar="FOLDER", type=folder, help="the folder that holds your .tf files"),
    why="override needs the Terraform folder to write its file into.",
    fix="python -m helpers override terraform",
)
def write_override(args) -> int:
    override.write_target_override(args.folder)
    path = args.folder / override.OVERRIDE_FILE
    if cloud.is_emulator():
        print(
            f"Wrote {workspace.relative(path)}: the aws provider in {args.folder} now uses the emulator "
            "(delete the file, or switch target and run this again, to use real AWS)."
        )
    else:
        print(f"Target is aws: no override in {args.folder}; the provider uses your AWS credentials.")
    return 0
