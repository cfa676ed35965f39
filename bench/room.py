"""(g) A room of 30: every learner applies the whole terraform/ at once on one room emulator.

    .venv/bin/python bench/run.py --only room     (part of: make bench, ~6 min on 2 cores)

The instructor's workspace serves one emulator (on loopback) and issues 30 credentials: 30
accounts. Each learner has a workspace and a copy of terraform/, and all 30 run ``terraform
apply`` at the same moment, then ``terraform destroy`` at the same moment. Measured: the wall time
of each phase, the emulator's peak memory (VmHWM) and CPU time, and what is left afterwards in
every account (the instructor's leftovers list looks into each): it must be nothing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from pathlib import Path

from bench.common import Measure, Part, process_cpu_s

LEARNERS = [f"l{n:02d}" for n in range(1, 31)]
VARIABLES = ("COURSE_WORKSPACE", "COURSE_LEARNER", "COURSE_EMULATOR_URL", "COURSE_ROOM_KEY", "COURSE_ROOM_SECRET")


@contextlib.contextmanager
def acting(**env):
    saved = {k: os.environ.pop(k, None) for k in VARIABLES}
    os.environ.update({k: v for k, v in env.items() if v})
    try:
        yield
    finally:
        for k in VARIABLES:
            os.environ.pop(k, None)
            if saved[k] is not None:
                os.environ[k] = saved[k]


def _process(pid: int) -> tuple[float, float]:
    """(peak resident MB, CPU seconds) of process ``pid`` so far, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    return peak_kb / 1024, process_cpu_s(pid)


def _all_at_once(argv: list[str], folders: dict, envs: dict) -> tuple[float, list[str]]:
    """Seconds until every learner's command finished (all started together), and the failures."""
    failed = []

    def one(name):
        proc = subprocess.run(argv, cwd=folders[name], env=envs[name], capture_output=True, text=True, timeout=1800)
        if proc.returncode:
            failed.append(f"{name}: {proc.stderr.strip()[-300:]}")

    threads = [threading.Thread(target=one, args=(n,)) for n in folders]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began, failed


def run(root: Path) -> Part:
    from helpers.course import inventory
    from helpers.runtime import emulator
    from helpers.tf import standalone, toolchain
    from helpers.workshop import room

    instructor = root / "instructor"
    with acting(COURSE_WORKSPACE=str(instructor)):
        url = room.serve(host="127.0.0.1")
        pid = emulator.own_status()["pid"]
        given = dict(room.issue(LEARNERS))
        exe = str(toolchain.executable())
        toolchain.cli_config()  # unpacks the provider mirror once; learners link to it
    try:
        folders, envs = {}, {}
        for name in LEARNERS:
            ws = root / name
            ws.mkdir(parents=True)
            (ws / "providers").symlink_to(instructor / "providers")
            key, secret = given[name]["access_key"], given[name]["secret_key"]
            with acting(
                COURSE_WORKSPACE=str(ws),
                COURSE_LEARNER=name,
                COURSE_EMULATOR_URL=url,
                COURSE_ROOM_KEY=key,
                COURSE_ROOM_SECRET=secret,
            ):
                folders[name] = standalone.prepare(ws / "terraform")
                envs[name] = toolchain.environment()
        _, failed = _all_at_once([exe, "init", "-input=false", "-no-color"], folders, envs)
        if failed:
            raise RuntimeError("terraform init failed: " + "; ".join(failed[:3]))
        _, cpu_before = _process(pid)
        flags = ["-auto-approve", "-input=false", "-no-color"]
        apply_s, failed = _all_at_once([exe, "apply", *flags], folders, envs)
        if failed:
            raise RuntimeError(f"{len(failed)} applies failed: " + "; ".join(failed[:3]))
        destroy_s, failed = _all_at_once([exe, "destroy", *flags], folders, envs)
        if failed:
            raise RuntimeError(f"{len(failed)} destroys failed: " + "; ".join(failed[:3]))
        peak_mb, cpu_after = _process(pid)
        with acting(COURSE_WORKSPACE=str(instructor)):
            left = inventory.leftovers()
    finally:
        with acting(COURSE_WORKSPACE=str(instructor)):
            emulator.stop()
    n = len(LEARNERS)
    measures = [
        Measure(f"(g) room: {n} learners apply terraform/ at once", apply_s),
        Measure(f"    room: {n} learners destroy at once", destroy_s),
        Measure("    room emulator peak memory", round(peak_mb, 1), unit="MB"),
        Measure("    room emulator CPU time, apply + destroy", cpu_after - cpu_before),
        Measure("    room leftovers in every account", len(left), unit="count", budget=0, text="; ".join(left[:3])),
    ]
    return Part(
        measures,
        {
            "learners": n,
            "apply_s": round(apply_s, 1),
            "destroy_s": round(destroy_s, 1),
            "emulator_peak_mb": round(peak_mb, 1),
            "emulator_cpu_s": round(cpu_after - cpu_before, 1),
            "leftovers": left,
        },
    )
