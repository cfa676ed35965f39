"""The reachability audit: who can reach the load balancer and the instances, on which ports.

    from helpers import audit
    report = audit.run()             # the learner's load balancer(s), read live with boto3
    report                           # in a notebook: the matrix and the findings as tables
    report.ok                        # False when a high-severity finding exists

    report = audit.run(load_balancer="my-alb")   # any ALB, tagged by the course or not
    report = audit.run(every_balancer=True)      # every ALB of the region

    python -m helpers audit [--learner NAME | --load-balancer NAME|ARN | --all] [--json]
                                                  (exit code 1 on a high finding)

It works in steps, so that the logic can be tested without AWS:

``collect()``  (snapshot.py) describes load balancers, listeners, target groups,
               registered targets, instances, subnets and security groups through
               boto3 (emulator or AWS alike) into a plain dict, a *snapshot*;
``analyse()``  (analysis.py, where the rule semantics are described) evaluates the
               security-group rules of the snapshot, the way the VPC does, and returns
               a ``Report`` (report.py): the reachability matrix and findings, each
               with a severity and a fix;
``draw()``     (picture.py) draws the matrix.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from ... import course
from ..ports import HOST_PORT_RANGE
from .analysis import analyse
from .picture import draw_report
from .report import Report
from .snapshot import collect

__all__ = ["Report", "analyse", "collect", "draw", "main", "run"]


def run(
    learner: str | None = None,
    *,
    instance_groups: list[str] | None = None,
    host_port_range: tuple[int, int] | None = None,
    load_balancer: str | None = None,
    every_balancer: bool = False,
) -> Report:
    """Collect live and analyse: the function the notebooks call.

    ``learner`` defaults to this workspace's learner name; ``host_port_range`` to
    32768-65535, the default of the stack's ``var.host_port_range`` (pass yours if you changed it).
    ``load_balancer`` (name or ARN) or ``every_balancer`` audit load balancers the course did not
    make: the instances behind them are found from their targets and ECS services, not from tags.
    """
    if not (load_balancer or every_balancer):
        learner = learner or course.learner()
    snapshot = collect(
        learner, instance_groups=instance_groups, load_balancer=load_balancer, every_balancer=every_balancer
    )
    report = analyse(snapshot, host_port_range or HOST_PORT_RANGE)
    if instance_groups:
        report.title += f" · what if the instances were in {', '.join(instance_groups)}"
    return report


def draw(report: Report, folder) -> Path:
    """Draw the matrix: internet → ALB → instances, and the path that must not exist."""
    return draw_report(report, folder)


def main(
    learner: str | None,
    as_json: bool,
    host_port_range: tuple[int, int] | None = None,
    *,
    load_balancer: str | None = None,
    every_balancer: bool = False,
) -> int:
    # Notes (e.g. an emulator start) go to stderr with --json, so that stdout stays JSON.
    with contextlib.redirect_stdout(sys.stderr if as_json else sys.stdout):
        report = run(
            learner, host_port_range=host_port_range, load_balancer=load_balancer, every_balancer=every_balancer
        )
    print(json.dumps(report.to_dict(), indent=2) if as_json else report.text())
    return 0 if report.ok else 1
