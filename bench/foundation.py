"""(e) The foundation: emulator cold start, offline ``terraform init``, doctor.

    .venv/bin/python bench/run.py --only foundation     (part of: make bench)

Budgets (issue "Foundation"): emulator cold start <= 2 s, offline
`terraform init` <= 3 s, `python -m helpers doctor` <= 5 s. Also the emulator's CPU per
request (no budget: it is what `make test`'s emulators and a room's spend per API call). Each figure is
the median of several runs in a throw-away workspace; nothing here touches
the learner's workspace.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.common import Measure, Part, median, process_cpu_s, quietly, timed

RUNS = 5
REQUESTS = 600  # describes, for the emulator's CPU per request


def emulator_cpu_per_request(emulator) -> float:
    """CPU seconds the running emulator spends on one describe (ec2, elbv2 and ecs in turn), after one of each."""
    from helpers import workspace
    from helpers.runtime import aws

    pid = workspace.read_json(emulator.STATE)["pid"]
    clients = [aws.client(name) for name in ("ec2", "elbv2", "ecs")]
    calls = [clients[0].describe_vpcs, clients[1].describe_load_balancers, clients[2].list_clusters]
    for call in calls:
        call()
    before = process_cpu_s(pid)
    for n in range(REQUESTS):
        calls[n % 3]()
    return (process_cpu_s(pid) - before) / REQUESTS


def run(root: Path) -> Part:
    os.environ["COURSE_WORKSPACE"] = str(root / "foundation")
    from helpers.runtime import emulator
    from helpers.tf import state, toolchain
    from helpers.tf.runner import Terraform

    def init(stack: str) -> None:
        state.stack_dir(stack).joinpath("main.tf").write_text(toolchain.HEADER_HCL)
        Terraform(stack).init()

    starts = []
    try:
        for _ in range(RUNS):
            starts.append(timed(emulator.start))
            emulator.stop()
        quietly(emulator.start)  # init points the stack at the emulator, starting it if needed: not timed here
        first_init = timed(lambda: init("bench-0"))  # unpacks the provider mirror into the workspace
        inits = [timed(lambda i=i: init(f"bench-{i}")) for i in range(1, RUNS + 1)]
        per_request = emulator_cpu_per_request(emulator)
        doctors = [
            timed(lambda: subprocess.run([sys.executable, "-m", "helpers", "doctor"], capture_output=True, check=True))
            for _ in range(3)
        ]
    finally:
        emulator.stop()
    return Part(
        measures=[
            Measure(f"emulator cold start (median of {RUNS})", median(starts), budget=2.0),
            Measure(f"offline terraform init (median of {RUNS})", median(inits), budget=3.0),
            Measure("  first init of a workspace (unpacks the provider)", first_init),
            Measure(
                "emulator CPU per request",
                per_request * 1000,
                unit="ms",
                text=f"{REQUESTS} describes (ec2, elbv2, ecs) after one of each; helpers/runtime/moto_speed.py",
            ),
            Measure("python -m helpers doctor (median of 3)", median(doctors), budget=5.0),
        ],
        details={
            "emulator_start_s": [round(s, 3) for s in starts],
            "first_init_s": round(first_init, 3),
            "init_s": [round(s, 3) for s in inits],
            "doctor_s": [round(s, 3) for s in doctors],
            "emulator_cpu_per_request_ms": round(per_request * 1000, 2),
        },
    )
