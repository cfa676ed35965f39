"""Where `make test`'s CPU goes: CPU seconds per test module, daemons apart (a pytest plugin, and its report).

    make test PYTEST_ARGS="-p bench.cpubymodule" COURSE_CPU_BY_MODULE=/tmp/cpu    (as root, cgroup v1)
    .venv/bin/python -m bench.cpubymodule /tmp/cpu

The run gets a cpuacct cgroup of its own (``cpu-run-<id>``, made by the xdist controller, or by the one process
without xdist, under the group it was in: bench/cpu.py's when bench runs it, which removes it afterwards).
Each pytest worker (or the one process) moves into a group of its own in it. A test's CPU is what that group
used while the test ran: the worker and every process the test started, Terraform, kernels and browsers
included. Every 0.5 s, and when a test ends, the processes that belong to something else move to a group named
for it: a background job of tests/support (tests/plugin/session.py starts them beside the course), a server
that serves every worker whoever started it (the session's emulator, a lab's supervisor, a hub), a daemon a
test left (parent 1). Their later work is then not counted against whichever test runs on that worker; the
report prints them apart. A plain child a test leaves running stays, and counts against the worker's next
tests. xdist's controller stays where it was (not in the run's group). Without a writable cgroup v1 cpuacct,
the plugin does nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path("/sys/fs/cgroup/cpuacct")
OUT = os.environ.get("COURSE_CPU_BY_MODULE")
RUN_GROUP = "COURSE_CPU_RUN_GROUP"  # the run's group, for the workers the controller starts


def available() -> bool:
    """Whether this process can measure: cgroup v1's cpuacct, writable (as root)."""
    return _own_group() is not None and os.access(ROOT, os.W_OK) and (ROOT / "cgroup.procs").exists()


def _own_group() -> Path | None:
    """This process's cpuacct group (cgroup v1), or None."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):
            return ROOT / path.lstrip("/")
    return None


def _usage(group: Path) -> float:
    return int((group / "cpuacct.usage").read_text()) / 1e9


# Servers that serve every worker, whoever started them (matched in their command line)
SHARED = ("helpers.runtime.emulator_server", "helpers.lab.control.supervisor", "jupyterhub", "configurable-http-proxy")
PARK_EVERY_S = 0.5


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 1


def _owner(pid: int, worker: int) -> str | None:
    """The group a process's CPU belongs to, if not the running test's, from its line up to the worker: a
    background job of tests/support (``python -m tests.support.X``) anywhere on it; else the nearest shared server;
    else, when the line ends at pid 1 before the worker, a daemon."""
    line: list[str] = []
    while pid not in (worker, 0, 1) and len(line) < 64:
        line.append(_cmdline(pid))
        pid = _parent(pid)
    for text in line:
        if " -m tests.support." in text:
            return "job-" + text.split(" -m tests.support.", 1)[1].split()[0]
    for text in line:
        for name in SHARED:
            if name in text:
                return "daemon-" + name.rsplit(".", 1)[-1]
    if pid == 1 and line:
        return "daemon-" + (Path(line[-1].split(" ", 1)[0]).name or "other")
    return None


class CpuByModule:
    def __init__(self, out: Path, run: Path, worker: str) -> None:
        self.out, self.worker, self.parent = out, worker, run
        self.group = run / f"worker-{worker}"
        self.modules: dict[str, float] = defaultdict(float)
        self.tests: dict[str, float] = {}
        self.walls: dict[str, float] = {}
        self.group.mkdir(exist_ok=True)
        (self.group / "cgroup.procs").write_text(str(os.getpid()))
        self.stopping = threading.Event()
        threading.Thread(target=self._parking, daemon=True).start()

    def _parking(self) -> None:
        while not self.stopping.wait(PARK_EVERY_S):
            self._park()

    def _park(self) -> None:
        """Move each process that belongs to a job or daemon to that one's group (children it starts inherit)."""
        for pid in (self.group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError, ValueError):
                owner = _owner(int(pid), os.getpid())
                if owner is not None:
                    target = self.parent / owner
                    target.mkdir(exist_ok=True)
                    (target / "cgroup.procs").write_text(pid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        before, began = _usage(self.group), time.monotonic()
        yield
        self.walls[item.nodeid] = time.monotonic() - began
        self._park()
        spent = _usage(self.group) - before
        self.tests[item.nodeid] = spent
        self.modules[item.nodeid.split("::", 1)[0]] += spent

    def pytest_sessionfinish(self, session):
        self.stopping.set()
        self._park()
        self.out.mkdir(parents=True, exist_ok=True)
        parked = {d.name: _usage(d) for d in self.parent.iterdir() if d.name.startswith(("daemon-", "job-"))}
        data = {
            "worker": self.worker,
            "total": _usage(self.group),
            "modules": self.modules,
            "tests": self.tests,
            "walls": self.walls,
        }
        data["daemons"] = parked
        (self.out / f"{self.worker}.json").write_text(json.dumps(data, indent=1))


def pytest_configure(config):
    if not OUT or not available():
        return
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker is None:  # the xdist controller, or the one process: a new group for the run
        run = _own_group() / f"cpu-run-{uuid.uuid4().hex[:8]}"
        run.mkdir()
        os.environ[RUN_GROUP] = str(run)  # the workers, started after this hook, inherit it
        if getattr(config.option, "numprocesses", None):
            return  # the controller only hands tests out
    config.pluginmanager.register(
        CpuByModule(Path(OUT), Path(os.environ[RUN_GROUP]), worker or "main"), "course-cpu-by-module"
    )


def report(folder: Path, top: int = 40) -> str:
    """The figures the run's processes wrote in ``folder``: workers, modules and tests by CPU, then the jobs,
    servers and daemons apart."""
    modules: dict[str, float] = defaultdict(float)
    tests: dict[str, float] = {}
    workers = {}
    parked: dict[str, float] = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        workers[data["worker"]] = data["total"]
        for name, seconds in data["modules"].items():
            modules[name] += seconds
        tests.update(data["tests"])
        for name, seconds in data.get("daemons", {}).items():
            parked[name] = max(parked.get(name, 0.0), seconds)
    lines = [f"workers: {', '.join(f'{w} {s:.0f} s' for w, s in sorted(workers.items()))}"]
    lines.append(f"tests: {sum(tests.values()):.0f} CPU-s in {len(tests)} tests, {len(modules)} modules")
    for name, seconds in sorted(modules.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{seconds:8.1f}  {name}")
    lines.append("slowest tests (CPU):")
    for name, seconds in sorted(tests.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{seconds:8.1f}  {name}")
    lines.append("daemons (their CPU after the test that started them):")
    lines += [f"{seconds:8.1f}  {name}" for name, seconds in sorted(parked.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(Path(sys.argv[1])))
