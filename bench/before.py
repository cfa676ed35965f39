"""What each speed and size choice of the course saves: the choice and the alternative it replaced,
measured side by side on this machine.

    .venv/bin/python bench/run.py --only before     (not part of make bench: ~15 min more)

Writes bench/before.json. Each row is one optimisation of the issue "Benchmark the
course and make it fast":

- Terraform creates independent resources in parallel (its default, 10 at a time;
  the stack declares no needless depends_on) vs one at a time (``-parallelism=1``):
  plain init, apply and destroy of terraform/, both measured here.
- One emulator for the whole course vs one started by each notebook.
- One stack, so one ``terraform init``, for notebooks 02-10 (00 has a small stack of its
  own) vs a stack and an init for each notebook that runs Terraform, as tutorials often do.
- ``make test`` on its own pytest workers (Makefile: the notebooks on one, the rest beside them)
  vs one (``PYTEST_ARGS="-n 0"``), each on a clean clone of HEAD.
- moto installed with the extras of the services the course calls vs ``moto[server]``
  (every service's dependencies): the size of the virtual environment.

Paying each provider wait once is a design choice with no switch to flip: the
notebooks add to one stack, so the ALB (~60 s), the Route 53 record (~30 s) and
the ECS cluster (~10 s) are each created once; bench/run.py's "course / raw" row
shows the result (the course costs little more than one plain apply + destroy).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from bench import course, maketest
from bench.common import REPO, Measure, Part, run_timed, size_mb, timed


def code(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")


SOURCES = {path.stem: code(path) for path in course.NOTEBOOKS}
NOTEBOOKS = len(SOURCES)  # before: an emulator started by each notebook
# before: a stack, so an init, for each notebook that runs Terraform; now: the inits the notebooks call
TERRAFORM_NOTEBOOKS = sum(bool(re.search(r"%%hcl|\.(apply|destroy)\(", src)) for src in SOURCES.values())
INITS_NOW = sum(src.count(".init(") for src in SOURCES.values())


def saving(name: str, before: float, after: float, unit: str = "s", how: str = "") -> Measure:
    """A row: the value is the alternative's figure; the note says the course's and the difference."""

    def shown(value):
        return f"{value:.0f} MB" if unit == "MB" else (f"{value:.1f} s" if value >= 10 else f"{value:.2f} s")

    return Measure(
        name,
        before,
        unit=unit,
        text=f"now {shown(after)}{how}: {shown(before - after)} less ({1 - after / before:.0%})",
    )


def emulator_and_init(root: Path) -> dict:
    os.environ["COURSE_WORKSPACE"] = str(root / "workspace")
    from helpers.runtime import emulator
    from helpers.tf import state, toolchain
    from helpers.tf.runner import Terraform

    def init(stack: str) -> None:
        state.stack_dir(stack).joinpath("main.tf").write_text(toolchain.HEADER_HCL)
        Terraform(stack).init()

    try:
        starts = []
        for _ in range(NOTEBOOKS):
            starts.append(timed(emulator.start))
            emulator.stop()
        timed(emulator.start)
        timed(lambda: init("unpack"))  # the first init of a workspace unpacks the provider mirror: paid either way
        inits = [timed(lambda i=i: init(f"notebook-{i}")) for i in range(TERRAFORM_NOTEBOOKS)]
    finally:
        emulator.stop()
    return {"emulator_starts_s": [round(s, 3) for s in starts], "inits_s": [round(s, 3) for s in inits]}


def moto_server_size(root: Path) -> dict:
    """The course's venv, then the same with moto[server] added: what the extras choice saves."""
    venv = root / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL")}
    run_timed(["make", "-C", str(REPO), "install", f"VENV={venv}"], "make install", env=env)
    course_mb = size_mb(venv)
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import moto; print(moto.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    run_timed(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"moto[server]=={version}",
        ],
        "pip install moto[server]",
        env=env,
    )
    return {"venv_mb": course_mb, "venv_with_moto_server_mb": size_mb(venv), "moto": version}


def run(root: Path) -> Part:
    root.mkdir(parents=True, exist_ok=True)
    parallel = course.raw(root, "parallel")
    serial = course.raw(root, "serial", "-parallelism=1")
    quick = emulator_and_init(root)
    sizes = moto_server_size(root)
    tests_one_worker = maketest.clean_clone(root / "one-worker", "PYTEST_ARGS=-n 0")
    tests_make_test = maketest.clean_clone(root / "make-test-workers")

    work = lambda t: t["apply"] + t["destroy"]  # noqa: E731
    starts, inits = quick["emulator_starts_s"], quick["inits_s"]
    return Part(
        measures=[
            saving(
                "terraform/ apply + destroy, one resource at a time",
                work(serial),
                work(parallel),
                how=" (Terraform's parallel walk, 10 at a time)",
            ),
            saving(
                f"{NOTEBOOKS} emulator starts (one per notebook)",
                sum(starts),
                starts[0],
                how=" (one emulator for the course)",
            ),
            saving(
                f"{TERRAFORM_NOTEBOOKS} terraform inits (a stack per notebook)",
                sum(inits),
                sum(inits[:INITS_NOW]),
                how=f" ({INITS_NOW}: 00's stack and the course's one stack)",
            ),
            saving(
                "make test on one pytest worker (clean clone)",
                tests_one_worker["test_s"],
                tests_make_test["test_s"],
                how=" (make test's own workers)",
            ),
            saving(
                "venv with moto[server]",
                sizes["venv_with_moto_server_mb"],
                sizes["venv_mb"],
                unit="MB",
                how=" (moto with the extras of the course's services)",
            ),
        ],
        details={
            "raw_parallel_s": parallel,
            "raw_parallelism_1_s": serial,
            **quick,
            **sizes,
            "make_test_one_worker": tests_one_worker,
            "make_test_own_workers": tests_make_test,
        },
    )
