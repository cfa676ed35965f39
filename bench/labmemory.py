"""bench (h)'s memory of the traffic lab: which processes are the lab's, their PSS by part and by program, and the
peak of one run of the lab's client (bench/lab.py runs the lab and calls these; its docstring says what is counted).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.common import REPO, Measure, rounded

MEMORY_BUDGET_MB = 120  # PSS of every lab process together (issue 23, "Performance")
# seconds without traffic before the lab's memory at rest: V8's memory reducer collects a load's garbage once Node.js
# idles, in up to 3 GCs from 8 s on (kLongDelayMs; seen 30-45 s after bench's load here)
# https://chromium.googlesource.com/v8/v8/+/cfe281f3dba735f14bc114ea3fd0e7cca2aa60db/src/heap/memory-reducer.cc
SETTLE = 60.0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def lab_processes(supervisor: int, ws: str) -> dict[str, set[int]]:
    """The lab's processes by part: "tasks", every process in a container's namespace (the learner's nginx and
    Node.js); "machinery", the supervisor's process tree and every other process in one of the lab's namespaces."""
    from helpers.lab.ecs import containers
    from helpers.lab.net import kernel

    def in_namespaces(names: list[str]) -> set[int]:
        found = set()
        for ns in names:
            listed = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10).stdout
            found.update(int(p) for p in listed.split())
        return found

    tree, pids, todo = _children(), set(), [supervisor]
    while todo:
        pid = todo.pop()
        if pid not in pids:
            pids.add(pid)
            todo.extend(tree.get(pid, []))
    tasks = in_namespaces(containers.leftover_namespaces(ws))  # the container namespaces that exist now
    return {"machinery": (pids | in_namespaces(kernel.namespaces(ws))) - tasks, "tasks": tasks}


def memory(parts: dict[str, set[int]]) -> dict:
    """PSS and RSS sums in MB, each part's PSS sum, and each process's: its part, program, PSS and RSS."""
    each = []
    part_of = {pid: part for part, pids in parts.items() for pid in pids}
    pids = set(part_of)
    for pid in sorted(pids):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        kb = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:] if line.split()[1].isdigit()}
        if name.startswith("python"):  # which lab program: python -m helpers.lab.<...>.<program>
            name = next((a.decode().rsplit(".", 1)[-1] for a in cmdline if a.startswith(b"helpers.lab.")), name)
        pss, rss = kb.get("Pss", 0) / 1024, kb.get("Rss", 0) / 1024
        each.append({"pid": pid, "part": part_of[pid], "program": name, "pss_mb": pss, "rss_mb": rss})
    by_name: dict[str, float] = {}
    for one in each:
        by_name[one["program"]] = by_name.get(one["program"], 0) + one["pss_mb"]
    return {
        "pss_mb": sum(one["pss_mb"] for one in each),
        "rss_mb": sum(one["rss_mb"] for one in each),
        "processes": len(each),
        "pss_by_part_mb": {part: round(sum(o["pss_mb"] for o in each if o["part"] == part), 1) for part in parts},
        "pss_by_program_mb": rounded(by_name, 1),
        "each": [one | rounded({k: one[k] for k in ("pss_mb", "rss_mb")}, 1) for one in each],
    }


KEPT = ("pss_by_part_mb", "pss_by_program_mb", "each")  # memory()'s keys kept whole in the details
PARTS = {
    "machinery": "the lab's machinery: the supervisor (ALB nodes, ECS agents and scheduler, DNS: its threads)",
    "tasks": "the learner's tasks: nginx and Node.js in their containers (ECS's tasks)",
}


def part_measures(used: dict) -> list[Measure]:
    """One row per part of the lab: its processes' PSS together."""
    return [
        Measure(
            f"      {PARTS[part]}",
            used["pss_by_part_mb"][part],
            unit="MB",
            text=f"{sum(o['part'] == part for o in used['each'])} process(es)",
        )
        for part in PARTS
    ]


def memory_measures(used: dict) -> list[Measure]:
    """One row per program: its largest process's PSS, and every process's PSS (RSS) in its notes."""
    rows = []
    for program in sorted({one["program"] for one in used["each"]}, key=lambda p: -used["pss_by_program_mb"][p]):
        mine = [one for one in used["each"] if one["program"] == program]
        text = ", ".join(f"pid {one['pid']} {one['pss_mb']:.1f} MB ({one['rss_mb']:.0f})" for one in mine)
        rows.append(
            Measure(
                f"      {program}, {len(mine)} process(es): the largest",
                max(o["pss_mb"] for o in mine),
                unit="MB",
                text=f"PSS (RSS): {text}",
            )
        )
    return rows


# The lab's client as lab.curl runs it, then its own peak RSS (VmHWM: this process's, from its exec on) and
# PSS at its end, on stderr's last line. (A parent's wait4 would report the parent's size at the fork.)
CLIENT_WITH_MEMORY = """
import atexit, json, runpy, sys
def report():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    pss = next(line for line in open("/proc/self/smaps_rollup") if line.startswith("Pss:"))
    print(json.dumps({"peak_rss_kb": int(status["VmHWM"].split()[0]), "pss_kb": int(pss.split()[1])}), file=sys.stderr)
atexit.register(report)
sys.argv[0] = "helpers.lab.client"
runpy.run_module("helpers.lab.client", run_name="__main__")
"""


def client_memory(ns: str, url: str) -> dict:
    """The peak RSS and final PSS in MB of one run of the lab's client (python -m helpers.lab.client) from ``ns``."""
    from helpers.lab.net.netns import Netns

    argv = [sys.executable, "-c", CLIENT_WITH_MEMORY, url, "--json", "--insecure", "--timeout", "10"]
    done = Netns(ns).exec(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"the lab's client could not GET {url} from {ns}: {done.stderr[-500:]}")
    kb = json.loads(done.stderr.strip().splitlines()[-1])
    return {"peak_rss_mb": kb["peak_rss_kb"] / 1024, "pss_mb": kb["pss_kb"] / 1024}
