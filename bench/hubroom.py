"""A room through the hub: N learners at once run notebooks 02 to 07, cell by cell, in their own kernels.

    .venv/bin/python bench/run.py --only hub-room    (opt-in, ~15-25 min on 2 cores; Linux, as root)
    HUB_ROOM_LEARNERS=8 .venv/bin/python bench/run.py --only hub-room

Issue 24's figures for INSTRUCTOR.md's sizing. ``python -m helpers hub start`` on loopback in a workspace of its
own. One learner first, alone: log in through the form, start their server, then open each notebook from 02 to 07
in their JupyterLab's API (a session per notebook, its folder the kernel's working directory) and run its code
cells in order, as Run All does (each notebook's kernel is left running, as JupyterLab leaves it open): Terraform applies in their room account, and 07 brings up their rootless lab and
shows the 504 and the 200. Then LEARNERS learners do the same at the same time. Recorded: the wall time of one
alone and of the room, each learner's peak memory (the PSS of every process of their Unix user: server, kernels,
Terraform and its provider, their lab and its tasks), the hub's own (JupyterHub, proxy, culler) and the room
emulator's peak, and the failures (a cell's error names the learner, the notebook and the cell). Then
``hub stop --remove-learners``.
"""

from __future__ import annotations

import json
import os
import pwd
import sys
import threading
import time
import uuid
from pathlib import Path

from bench import hub
from bench.common import REPO, Measure, Part

LEARNERS = int(os.environ.get("HUB_ROOM_LEARNERS", "6"))
NOTEBOOKS = ("02", "03", "04", "05", "06", "07")
SAMPLE_EVERY = 2.0  # seconds between memory samples


def notebook_cells(number: str) -> tuple[str, list[str]]:
    """The notebook ``number``'s file name and its code cells' sources, in order."""
    path = next((REPO / "notebooks").glob(f"{number}-*.ipynb"))
    cells = json.loads(path.read_text())["cells"]
    return path.name, ["".join(c["source"]) for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def run_course(url: str, name: str, failures: list[str], stop_after: bool = False) -> float:
    """``name`` logs in and runs 02..07 cell by cell; seconds taken. A failing cell ends their run, named in
    ``failures``. ``stop_after``: their server (and its kernels and lab) stopped at the end, as the hub's culler
    would, so that the next measure is not shared with it."""
    import requests  # jupyterhub's dependency: only the hub parts need it

    began, token = time.perf_counter(), None
    try:
        token = hub.start_learner(url, name)
        for number in NOTEBOOKS:
            notebook, cells = notebook_cells(number)
            ws, _ = hub.open_kernel(url, name, token, notebook)
            try:
                for index, code in enumerate(cells, start=1):
                    ran = hub.execute(ws, name, code)
                    if ran["error"]:
                        failures.append(f"{name}: {notebook} code cell {index}: {ran['error'][:300]}")
                        return time.perf_counter() - began
            finally:
                ws.close()
    except Exception as error:  # noqa: BLE001 (a learner's failure is recorded, the room goes on)
        failures.append(f"{name}: {type(error).__name__}: {str(error)[:300]}")
    finally:
        seconds = time.perf_counter() - began
        if stop_after and token:
            auth = {"Authorization": f"token {token}"}
            requests.delete(f"{url}/hub/api/users/{name}/server", headers=auth, timeout=120)
    return seconds


class Peaks:
    """Samples, every SAMPLE_EVERY s while it runs, the PSS of each learner's processes, the hub's and the room
    emulator's; keeps the peaks."""

    def __init__(self, names: list[str], hub_pid: int, emulator_pid: int | None):
        self.names, self.hub_pid, self.emulator_pid = names, hub_pid, emulator_pid
        self.learner: dict[str, float] = dict.fromkeys(names, 0.0)
        self.hub = self.room = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _uid(self, name: str) -> int | None:
        try:
            return pwd.getpwnam("course-" + name).pw_uid
        except KeyError:  # not made yet: their server has not started
            return None

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            for name in self.names:
                if (uid := self._uid(name)) is not None:
                    self.learner[name] = max(self.learner[name], hub.memory(hub.pids_of_user(uid))[0])
            own = [p for p in hub.tree(self.hub_pid) if hub.owner(str(p)) == 0]  # not the learners' servers
            self.hub = max(self.hub, hub.memory(own)[0])
            if self.emulator_pid:
                self.room = max(self.room, hub.memory([self.emulator_pid])[0])

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)


def run(root: Path) -> Part:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return Part([Measure("(j) hub room", None, text="skipped: the hub needs Linux and root")])
    ws = root / "hub-room"
    ws.mkdir(parents=True)
    port = hub.free_port()
    started = hub.helpers_cli(ws, "start", "--port", str(port), "--password", hub.PASSWORD)
    if started.returncode:
        raise RuntimeError(started.stderr.strip()[-2000:])
    url = f"http://127.0.0.1:{port}"
    failures: list[str] = []
    try:
        record = json.loads((ws / "hub" / "hub.json").read_text())
        emulator = json.loads((ws / "emulator.json").read_text()).get("pid")
        alone = f"solo{uuid.uuid4().hex[:4]}"
        with Peaks([alone], record["pid"], emulator) as solo:
            alone_s = run_course(url, alone, failures, stop_after=True)
        names = [f"r{n}{uuid.uuid4().hex[:4]}" for n in range(LEARNERS)]
        seconds: dict[str, float] = {}
        with Peaks(names, record["pid"], emulator) as room:
            began = time.perf_counter()
            threads = [
                threading.Thread(target=lambda n=n: seconds.__setitem__(n, run_course(url, n, failures))) for n in names
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            room_s = time.perf_counter() - began
    finally:
        hub.helpers_cli(ws, "stop", "--remove-learners")
    return part(
        {
            "learners": LEARNERS,
            "alone_s": round(alone_s, 1),
            "room_s": round(room_s, 1),
            "each_s": {n: round(s, 1) for n, s in seconds.items()},
            "peak_pss_mb": {n: round(p, 1) for n, p in room.learner.items()},
            "alone_peak_pss_mb": round(solo.learner[alone], 1),
            "hub_peak_pss_mb": round(room.hub, 1),
            "room_emulator_peak_pss_mb": round(room.room, 1),
            "failures": failures,
        }
    )


def part(found: dict) -> Part:
    """The part's rows from its details (run()'s, or a recorded run's)."""
    n, peaks, failures = found["learners"], list(found["peak_pss_mb"].values()), found["failures"]
    return Part(
        [
            Measure("(j) hub room: one learner alone runs 02 to 07", found["alone_s"]),
            Measure(f"    {n} learners at once run 02 to 07 (the last to finish)", found["room_s"]),
            Measure(
                "    per learner: peak PSS, alone (server, kernels, Terraform, lab)", found["alone_peak_pss_mb"], "MB"
            ),
            Measure(f"    per learner: peak PSS, {n} at once (mean)", sum(peaks) / len(peaks), "MB"),
            Measure(f"    per learner: peak PSS, {n} at once (largest)", max(peaks), "MB"),
            Measure("    the hub: JupyterHub + proxy + culler, peak (PSS)", found["hub_peak_pss_mb"], "MB"),
            Measure("    the room emulator, peak (PSS)", found["room_emulator_peak_pss_mb"], "MB"),
            Measure(
                f"    failures over {n + 1} learners",
                len(failures),
                "count",
                budget=0,
                text="; ".join(failures) if failures else "no failure",
            ),
        ],
        found,
    )
