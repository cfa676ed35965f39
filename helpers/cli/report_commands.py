"""python -m helpers leftovers | audit | facilitator: what is deployed, read back."""

from __future__ import annotations

import os

from .. import course
from ..course import inventory
from ..runtime import aws, cloud, emulator
from ..verify import audit
from ..workshop import facilitator
from .parsing import Commands, arg, learner_name, one_of, port_range

REPORTS = Commands()


@REPORTS.command(
    "leftovers",
    "list what the course tagged in the current target (exit 1 if anything is left)",
    arg("--learner", type=learner_name, help="only this learner's resources (default: every learner's)"),
)
def list_leftovers(args) -> int:
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


LOW, HIGH = course.HOST_PORT_RANGE


@REPORTS.command(
    "audit",
    "reachability audit of a load balancer and the instances behind it",
    one_of(
        arg(
            "--learner",
            type=learner_name,
            help="the course's load balancer of this learner (default: this workspace's)",
        ),
        arg("--load-balancer", metavar="NAME|ARN", help="any Application Load Balancer, tagged or not"),
        arg("--all", action="store_true", help="every Application Load Balancer in the region"),
    ),
    arg("--json", action="store_true", help="print the report as JSON"),
    arg(
        "--host-ports",
        metavar="LOW-HIGH",
        type=port_range((LOW, HIGH)),
        help=f"the dynamic host port range you use (default {LOW}-{HIGH})",
    ),
    why="audit takes at most one of --learner, --load-balancer and --all (whose load balancers), "
    "and --json and --host-ports.",
    fix="python -m helpers audit --help",
)
def audit_reachability(args) -> int:
    return audit.main(
        args.learner, args.json, args.host_ports, load_balancer=args.load_balancer, every_balancer=args.all
    )


@REPORTS.command("facilitator", "instructor: every learner's progress, read from the tagged resources")
def show_progress(args) -> int:
    print(facilitator.table(facilitator.progress()))
    return 0
