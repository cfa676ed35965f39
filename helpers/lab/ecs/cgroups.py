"""Memory cgroups for the lab's containers: a task definition's ``memory`` as a hard limit.

    cgroups.memory_hierarchy()      ("v2"|"v1", where the lab's cgroups go) or (None, why not)
    cgroups.memory_limits()         one line for `lab status`: how limits are applied, or why not
    cgroups.make(name, mib)         a cgroup with that limit (None: no limit, or no hierarchy)
    cgroups.join(group, pid)        move a process in; cgroups.remove(group) when it is empty

``memory`` (MiB) is a hard limit in a memory cgroup: cgroup v2 (``memory.max``) where
the unified hierarchy has the memory controller, else cgroup v1 (``memory.limit_in_bytes``);
where neither is writable the limit is not applied and ``memory_limits()`` says why.
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html
On the machine this was built on the v2 hierarchy has no memory controller (hybrid mode), so
the v1 controller is used. Inside ``ip netns exec`` /sys is a fresh sysfs without cgroup mounts:
the hierarchy is then mounted in that process's own private mount namespace, never in the host's
(the lab's agent runs as a thread of the supervisor, in the host's namespaces, and does not need it).
The mount commands run in this process's own mount namespace, so they are started directly, never
through the lab's sandbox (helpers/lab/net/netns.py's runner would enter another mount namespace).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

COMMAND_TIMEOUT = 20.0  # seconds for one mount or umount
REMOVE_TIMEOUT = 5.0  # seconds for an emptied cgroup to be removable


def _mount(*argv: str) -> bool:
    """One mount/umount in this process's mount namespace; True when it worked."""
    try:
        return subprocess.run(argv, capture_output=True, timeout=COMMAND_TIMEOUT).returncode == 0
    except FileNotFoundError:
        return False


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) of every mount this process sees."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) > 4 and len(rparts) >= 3:
            found.append((parts[4].replace("\\040", " "), rparts[0], rparts[2]))
    return found


def _own_cgroup(v1_controller: str | None) -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (v1_controller is None and controllers == "") or (v1_controller in controllers.split(",")):
            return path
    return "/"


def _find_memory_hierarchy() -> tuple[str, Path] | None:
    for point, fstype, _options in _mounts():
        if fstype == "cgroup2":
            controllers = Path(point, "cgroup.controllers")
            if controllers.is_file() and "memory" in controllers.read_text().split():
                return "v2", Path(point)
    for point, fstype, options in _mounts():
        if fstype == "cgroup" and "memory" in options.split(","):
            return "v1", Path(point)
    return None


_hierarchy_cache: dict = {}


def memory_hierarchy() -> tuple[str, Path] | tuple[None, str]:
    """("v2"|"v1", the directory the lab's cgroups go under) or (None, why not)."""
    if "value" in _hierarchy_cache:
        return _hierarchy_cache["value"]
    found = _find_memory_hierarchy()
    private_mnt = os.readlink("/proc/self/ns/mnt") != _safe_readlink("/proc/1/ns/mnt")
    if found is None and private_mnt:
        # Inside `ip netns exec` (a private mount namespace with a fresh /sys): mount it here, privately.
        point = Path("/sys/fs/cgroup")
        for kind, argv in (("v2", ["mount", "-t", "cgroup2", "none", str(point)]),):
            if _mount(*argv):
                controllers = point / "cgroup.controllers"
                if controllers.is_file() and "memory" in controllers.read_text().split():
                    found = (kind, point)
                else:
                    _mount("umount", str(point))
        if found is None:
            _mount("mount", "-t", "tmpfs", "lab-cgroup", str(point))
            (point / "memory").mkdir(exist_ok=True)
            if _mount("mount", "-t", "cgroup", "-o", "memory", "lab-memory", str(point / "memory")):
                found = ("v1", point / "memory")
    if found is None:
        value = (None, "no memory cgroup hierarchy is mounted (neither cgroup v2 with the memory controller nor v1)")
    else:
        kind, point = found
        base = point / _own_cgroup(None if kind == "v2" else "memory").lstrip("/")
        if not os.access(base, os.W_OK):
            value = (None, f"the memory cgroup {base} is not writable here (cgroups delegated read-only?)")
        else:
            value = (kind, base)
    _hierarchy_cache["value"] = value
    return value


def _safe_readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def memory_limits() -> str:
    """One line for `lab status`: how container ``memory`` limits are applied, or why not."""
    kind, where = memory_hierarchy()
    if kind is None:
        return f"memory limits: NOT applied ({where}); containers run without their task definition's `memory`"
    file = "memory.max" if kind == "v2" else "memory.limit_in_bytes"
    return f"memory limits: hard, cgroup {kind} ({file} under {where})"


def make(name: str, mib: int | None) -> Path | None:
    kind, base = memory_hierarchy()
    if kind is None or not mib:
        return None
    group = Path(base) / name
    group.mkdir(exist_ok=True)
    limit = str(int(mib) * 1024 * 1024)
    (group / ("memory.max" if kind == "v2" else "memory.limit_in_bytes")).write_text(limit)
    if kind == "v2" and (group / "memory.swap.max").exists():
        (group / "memory.swap.max").write_text("0")  # a hard limit: no swapping past it
    return group


def procs(group: Path) -> str:
    return str(group / "cgroup.procs")


def join(group: Path, pid: int) -> None:
    """Move process ``pid`` into ``group`` (a process already there, or already gone, is fine)."""
    try:
        with open(procs(group), "w") as fh:
            fh.write(str(pid))
    except ProcessLookupError:
        pass  # it exited already: the caller sees its exit status


def remove(group: Path | None) -> None:
    if group is None:
        return
    deadline = time.monotonic() + REMOVE_TIMEOUT
    while time.monotonic() < deadline:
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
