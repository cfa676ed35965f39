"""Each learner's memory and CPU limit on the hub: a cgroup of their own, below the hub's own.

JupyterHub's ``Spawner.mem_limit`` and ``cpu_limit`` are only settings: "The default spawner,
LocalProcessSpawner, does not implement this support" (their help text;
https://jupyterhub.readthedocs.io/en/stable/reference/api/spawner.html). The course's spawner enforces them
with the kernel's cgroups: the learner's server joins its cgroup before it becomes the learner's user, so the
kernel, Terraform and the lab it starts are inside too.
- cgroups v2 (memory and cpu controllers delegated to the hub's cgroup): ``memory.max`` and ``cpu.max``;
- cgroups v1 (this Debian machine's hybrid layout): ``memory.limit_in_bytes`` and ``cpu.cfs_quota_us``
  (https://docs.kernel.org/admin-guide/cgroup-v1/memory.html, .../scheduler/sched-bwc.html);
- neither (no such controller, or not writable): no limit, and ``plan()`` says why.
The cgroups are made below the hub's own, so whatever limits the hub itself still holds for its learners.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "course-hub"  # below the hub's own cgroup: course-hub/<learner>
CPU_PERIOD = 100_000  # microseconds: the kernel's default CFS period
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass
class Plan:
    """Where a learner's limits go: files to write, then the cgroup.procs files their server joins."""

    how: str  # "cgroups v2", "cgroups v1" or "none"
    why: str = ""  # with "none": why not
    settings: dict[Path, str] = field(default_factory=dict)
    procs: list[Path] = field(default_factory=list)


def size(text: str) -> int:
    """'3G' → bytes (JupyterHub's ByteSpecification suffixes K, M, G, T)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)\s*", str(text).upper())
    if not match:
        raise ValueError(f"{text!r} is not a size like 3G or 512M")
    return int(float(match.group(1)) * UNITS.get(match.group(2), 1))


def _own(controller: str) -> str | None:
    """This process's cgroup path for ``controller`` ('' for the v2 unified hierarchy), or None."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if (controller == "" and number == "0") or controller in controllers.split(","):
            return path
    return None


def _v2_base() -> Path | None:
    own = _own("")
    if own is None or not (CGROUP_ROOT / "cgroup.controllers").exists():
        return None
    base = CGROUP_ROOT / own.lstrip("/")
    available = (base / "cgroup.controllers").read_text().split() if (base / "cgroup.controllers").exists() else []
    return base if {"memory", "cpu"} <= set(available) else None


def plan(learner: str, memory: str | None, cpus: float | None) -> Plan:
    """Where ``learner``'s limits go on this host (nothing is written yet)."""
    if base := _v2_base():
        group = base / GROUP / learner
        # the controllers handed down to course-hub/ and from it to each learner's cgroup
        settings = {
            base / "cgroup.subtree_control": "+memory +cpu",
            base / GROUP / "cgroup.subtree_control": "+memory +cpu",
        }
        if memory:
            settings[group / "memory.max"] = str(size(memory))
        if cpus:
            settings[group / "cpu.max"] = f"{int(cpus * CPU_PERIOD)} {CPU_PERIOD}"
        return Plan("cgroups v2", settings=settings, procs=[group / "cgroup.procs"])
    memory_own, cpu_own = _own("memory"), _own("cpu")
    memory_root, cpu_root = CGROUP_ROOT / "memory", CGROUP_ROOT / "cpu"
    if memory_own is None or cpu_own is None or not (memory_root / "memory.limit_in_bytes").exists():
        return Plan("none", "this host has neither cgroups v2 with memory and cpu nor v1 memory and cpu controllers")
    if not os.access(memory_root, os.W_OK):
        return Plan("none", "the cgroup filesystem is read-only here (a container without its own cgroups?)")
    memory_group = memory_root / memory_own.lstrip("/") / GROUP / learner
    cpu_group = cpu_root / cpu_own.lstrip("/") / GROUP / learner
    settings = {}
    if memory:
        settings[memory_group / "memory.limit_in_bytes"] = str(size(memory))
    if cpus:
        settings[cpu_group / "cpu.cfs_period_us"] = str(CPU_PERIOD)
        settings[cpu_group / "cpu.cfs_quota_us"] = str(int(cpus * CPU_PERIOD))
    return Plan("cgroups v1", settings=settings, procs=[memory_group / "cgroup.procs", cpu_group / "cgroup.procs"])


def prepare(found: Plan) -> Plan:
    """Make the cgroups and write the limits (as root, in the hub); a plan of "none" when the kernel refuses."""
    try:
        for target, value in found.settings.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(value)
        for procs in found.procs:
            procs.parent.mkdir(parents=True, exist_ok=True)
    except OSError as refused:
        return Plan("none", f"the kernel refused the learner's cgroup: {refused}")
    return found


def join(found: Plan, pid: int) -> None:
    """Put process ``pid`` into the learner's cgroups (its children follow it)."""
    for procs in found.procs:
        procs.write_text(str(pid))


def remove(learner: str) -> None:
    """Remove the learner's cgroups (empty once their processes ended); what the kernel refuses stays."""
    for procs in plan(learner, "1G", 1.0).procs:
        try:
            procs.parent.rmdir()
        except OSError:
            pass
