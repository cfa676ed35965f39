"""The slow test jobs that run beside the notebook chain, each in a process of its own.

tests/plugin/session.py starts them when the course starts; the tests that need one
wait for its result. Each job is a module of tests/ run as

    python -m tests.<module> OUT [ARG ...]

which works in OUT (its own workspace and emulator unless ``shares_workspace``),
writes ``OUT/result.json`` (and may write parts on its way, ``OUT/<part>.json``:
``Job.part``), and logs to ``<job>.log`` beside OUT. Its
``main(out, *args)`` is called through ``main()`` below, so that a SIGTERM (the session
ending without waiting, e.g. ``pytest -x``) runs its ``finally`` blocks and
stops its emulator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
# The test that asked for no emulator and is running now (set by tests/plugin/session.py): a job starts
# an emulator and waits on real timings (minutes), so such a test may not start one (make check runs it).
running_unmarked: str | None = None


class Job:
    """One background job; subclasses name the module, the workspace folder and what it is."""

    module = ""  # tests.<module>, run with ``python -m``
    folder = ""  # its folder in the session's workspace (helpers.workspace.path)
    what = ""  # for the failure message: "<what> failed"
    timeout = 600.0  # seconds wait() waits by default
    shares_workspace = False  # True: it inherits the session's COURSE_WORKSPACE
    parts: tuple[str, ...] = ()  # the parts it writes on its way (``part``), removed from a previous run at start

    def __init__(self, out: Path, *args: str):
        if running_unmarked is not None:
            raise AssertionError(
                f"{running_unmarked} starts a background job ({self.what}) without asking for the "
                "emulator: a job runs an emulator and real waits, so mark the test emulator (or lab, "
                "or after_course when the session starts the job beside the course): make check "
                "leaves those out (tests/plugin/session.py)"
            )
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        for stale in ("result", *self.parts):
            (out / f"{stale}.json").unlink(missing_ok=True)
        self.log = open(out.parent / f"{self.folder}.log", "w")
        self.began = time.monotonic()
        env = dict(os.environ) if self.shares_workspace else dict(os.environ, COURSE_WORKSPACE=str(out))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, str(out), *args],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._result: dict | None = None

    @classmethod
    def start(cls, *args: str):
        from helpers import workspace

        return cls(workspace.path(cls.folder), *args)

    def wait(self, timeout: float | None = None) -> dict:
        """Its ``result.json`` (once: later calls return the same), or an assertion error with its log."""
        if self._result is None:
            code = self.proc.wait(timeout or self.timeout)
            self.log.close()
            log = Path(self.log.name).read_text()
            assert code == 0, f"{self.what} failed:\n{log[-6000:]}"
            self._result = json.loads((self.out / "result.json").read_text())
            self._result["waited_s"] = round(time.monotonic() - self.began, 1)
        return self._result

    def part(self, name: str, timeout: float | None = None) -> dict:
        """``OUT/<name>.json``, which the job writes on its way (atomically: ``write_part``), as soon as it is
        there: a bounded wait; an assertion error with the log if the job ended without it."""
        path = self.out / f"{name}.json"

        def written() -> bool:
            code = self.proc.poll()
            if code is not None and not path.exists():
                log = Path(self.log.name).read_text()
                raise AssertionError(f"{self.what} ended (exit code {code}) before its {name} part:\n{log[-6000:]}")
            return path.exists()

        wait_until(written, within=timeout or self.timeout, what=f"{self.what}: its {name} part", every=0.5)
        return json.loads(path.read_text())

    def stop(self) -> None:
        """The session ended without waiting: stop the job, which stops its emulator."""
        if self.proc.poll() is None:
            self.proc.terminate()  # main() turns SIGTERM into SystemExit: its finally stops the emulator
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
                if not self.shares_workspace:
                    subprocess.run(
                        [sys.executable, "-m", "helpers", "emulator", "stop"],
                        cwd=REPO,
                        env=dict(os.environ, COURSE_WORKSPACE=str(self.out)),
                        capture_output=True,
                    )
        self.log.close()


def write_part(out: Path, name: str, part: dict) -> None:
    """``OUT/<name>.json`` for ``Job.part``, complete or not at all (written aside, then renamed)."""
    tmp = out / f".{name}.json.tmp"
    tmp.write_text(json.dumps(part, indent=1))
    os.replace(tmp, out / f"{name}.json")


def main(run) -> None:
    """A job module's ``__main__``: ``run(Path(argv[1]), *argv[2:])``, with SIGTERM as SystemExit."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(run(Path(sys.argv[1]), *sys.argv[2:]))
