"""What the benchmark parts share: timing, sizes, machine facts, one result row.

Each part (foundation.py, course.py, setup.py, maketest.py, cleanruns.py, harness.py ...) has a
``run(root) -> Part``; bench/run.py runs them, prints one table and writes
bench/latest.json. Timings are printed, never asserted in tests.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import platform
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


@dataclass
class Measure:
    """One row of the table.

    value is seconds (unit "s"), milliseconds ("ms"), megabytes ("MB"), a ratio
    ("x"), a count ("count"), requests per second ("req/s") or None with ``text``
    saying what happened instead (e.g. "present"). With a budget, the verdict is
    value <= budget (``at_least``: value >= budget, a floor such as a throughput).
    """

    name: str
    value: float | None
    unit: str = "s"
    budget: float | None = None
    text: str = ""
    at_least: bool = False

    @property
    def ok(self) -> bool | None:
        if self.budget is None or self.value is None:
            return None
        return self.value >= self.budget if self.at_least else self.value <= self.budget


@dataclass
class Part:
    measures: list[Measure] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"measures": [asdict(m) for m in self.measures], "details": self.details}


def quietly(func):
    """Call ``func`` with its live progress (stderr) hidden; return its result."""
    with contextlib.redirect_stderr(io.StringIO()):
        return func()


def timed(func) -> float:
    """Seconds one call of ``func`` takes (its stderr progress hidden)."""
    began = time.perf_counter()
    quietly(func)
    return time.perf_counter() - began


def run_timed(cmd: list[str], what: str, **kwargs) -> float:
    """Seconds a command takes; a failure raises with the end of its output."""
    began = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        # the end of its output, without pip's notes on this machine's local indexes (they would hide pytest's summary)
        lines = [
            line for line in (result.stdout + result.stderr).strip().splitlines() if "is ignored: it is" not in line
        ]
        tail = "\n".join(lines[-15:])
        raise RuntimeError(f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n{tail}")
    return seconds


def median(samples) -> float:
    return statistics.median(list(samples))


def rounded(mapping: dict, digits: int = 2) -> dict:
    return {k: round(v, digits) for k, v in mapping.items()}


def size_mb(path: Path) -> float | None:
    """Disk usage of ``path`` in MB (du: links are not followed); None if absent."""
    if not Path(path).exists():
        return None
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
    return round(int(out.split()[0]) / 1024, 1)


def machine() -> dict:
    """Facts about the machine a run came from (timings mean little without them)."""
    cpu, ram_gb = platform.processor() or platform.machine(), None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (OSError, ValueError):  # macOS: no /proc, no SC_PHYS_PAGES
        with contextlib.suppress(OSError, ValueError, subprocess.CalledProcessError):
            cpu = (
                subprocess.run(
                    ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, check=True
                ).stdout.strip()
                or cpu
            )
            ram_gb = (
                int(subprocess.run(["sysctl", "-n", "hw.memsize"], capture_output=True, text=True, check=True).stdout)
                / 2**30
            )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": None if ram_gb is None else round(ram_gb, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far, from /proc (proc(5): utime and stime, fields 14 and
    15). Per request, it says what a server costs whatever else the machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
