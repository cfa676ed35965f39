"""Builds of the course site and slides for the tests, started in the background.

Rendering eleven notebooks takes several seconds of CPU. tests/conftest.py
starts the builds as soon as collection ends (when a selected test needs
them), so they overlap with the tests that run before; the tests then wait
for the finished folder. Each build is the real command, in a subprocess:
``python -m helpers site OUT`` / ``python -m helpers slides OUT -n ...``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SLIDE_NOTEBOOKS = ("03-alb-security-group.ipynb", "07-lock-down-the-instances.ipynb")
BUILD_TIMEOUT = 900  # seconds: generous, the machine may be busy with the notebooks
# What `python -m helpers slides` says when it cannot fetch reveal.js (helpers/site.py).
NO_REVEAL = ("npm is not installed", "Could not fetch reveal.js")


class Build:
    def __init__(self, kind: str):
        self.kind = kind
        self.tmp = Path(tempfile.mkdtemp(prefix=f"course-test-{kind}-"))
        self.out = self.tmp / kind
        extra = [a for name in SLIDE_NOTEBOOKS for a in ("-n", f"notebooks/{name}")] if kind == "slides" else []
        self.log = (self.tmp / "build.log").open("w+")
        self.process = subprocess.Popen([sys.executable, "-m", "helpers", kind, str(self.out), *extra],
                                        cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        self._result: Path | None = None

    def result(self) -> Path:
        """The built folder (waits for the build); fails the test with the build's message."""
        if self._result is None:
            code = self.process.wait(BUILD_TIMEOUT)
            self.log.seek(0)
            output = self.log.read()
            if code != 0:
                if self.kind == "slides" and any(s in output for s in NO_REVEAL) and not os.environ.get("CI"):
                    pytest.skip(f"reveal.js could not be fetched, so the slides are not tested:\n{output}")
                pytest.fail(f"python -m helpers {self.kind} failed (exit {code}):\n{output}", pytrace=False)
            self._result = self.out
        return self._result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def builds(config) -> dict[str, Build]:
    if not hasattr(config, "course_builds"):
        config.course_builds = {}
    return config.course_builds


def start(config, kind: str) -> Build:
    found = builds(config)
    if kind not in found:
        found[kind] = Build(kind)
    return found[kind]
