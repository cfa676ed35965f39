"""The course site and slides, built and opened in headless Chromium in the background.

Rendering eleven notebooks and walking their pages in a browser takes tens of
seconds on a busy machine. tests/conftest.py starts one background process
per kind as soon as collection ends (when a selected test needs it), so the
work overlaps with the tests that run before; the tests then read its report
and assert on it. Each process runs, in order:

1. the real command: ``python -m helpers site OUT`` or ``python -m helpers slides OUT -n ...``;
2. if it succeeded and Chromium is installed, a walk through the result in
   headless Chromium (tests/support/browser.py), served over http on loopback,
   recording what a person would see: links, headings, images, errors.

    python -m tests.support.site_support site|slides OUT REPORT.json
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SLIDE_NOTEBOOKS = ("03-alb-security-group.ipynb", "07-lock-down-the-instances.ipynb")
TIMEOUT = 900  # seconds for the whole background job: generous, the machine may be busy
# What `python -m helpers slides` says when it cannot fetch reveal.js (helpers/publishing/slides.py).
NO_REVEAL = ("npm is not installed", "Could not fetch reveal.js")


# ----------------------------------------------------- in the background process


def walk_site(chrome, base: str) -> dict:
    """From the index, follow "Next" to the end, recording every page."""
    chrome.open(base + "index.html")
    report = {
        "index_links": chrome.evaluate(
            "Array.from(document.querySelectorAll('article a')).map(a => [a.getAttribute('href'), a.textContent.trim()])"
        ),
        "pages": [],
    }
    while chrome.evaluate("!!document.querySelector('a.md-footer__link--next')") and len(report["pages"]) < 50:
        url = chrome.click("a.md-footer__link--next")
        report["pages"].append(
            {
                "url": url.removeprefix(base),
                "heading": chrome.evaluate("document.querySelector('article h1').textContent"),
                "images": chrome.images_loaded(),
            }
        )
    return report


def walk_slides(chrome, base: str) -> dict:
    """Open each deck, let reveal.js start, move to the next slide."""
    report = {"decks": {}}
    for name in SLIDE_NOTEBOOKS:
        deck = name.replace(".ipynb", ".slides.html")
        chrome.open(base + deck)
        total = chrome.wait_for(
            "typeof Reveal !== 'undefined' && Reveal.isReady() && Reveal.getTotalSlides()", "reveal.js to start"
        )
        chrome.evaluate("Reveal.next()")
        moved = chrome.wait_for("(Reveal.getState().indexh + Reveal.getState().indexv > 0) || null", "the next slide")
        report["decks"][deck] = {"total": total, "moved": bool(moved), "images": chrome.images_loaded()}
    return report


def run(kind: str, out: Path, report_file: Path) -> None:
    from tests.support import browser

    extra = [a for name in SLIDE_NOTEBOOKS for a in ("-n", f"notebooks/{name}")] if kind == "slides" else []
    proc = subprocess.run(
        [sys.executable, "-m", "helpers", kind, str(out), *extra], cwd=REPO, capture_output=True, text=True
    )
    report = {
        "kind": kind,
        "out": str(out),
        "code": proc.returncode,
        "output": proc.stdout + proc.stderr,
        "chromium": browser.find(),
    }
    if proc.returncode == 0 and report["chromium"]:
        chrome = browser.Browser(report["chromium"])
        try:
            with browser.serve(out) as base:
                report["walk"] = (walk_site if kind == "site" else walk_slides)(chrome, base)
            report["problems"] = chrome.problems()
        finally:
            chrome.close()
    report_file.write_text(json.dumps(report, indent=1))


# ------------------------------------------------------------ in the test session


class Job:
    """One background process: build, then walk in the browser."""

    def __init__(self, kind: str):
        self.kind = kind
        self.tmp = Path(tempfile.mkdtemp(prefix=f"course-test-{kind}-"))
        self.report_file = self.tmp / "report.json"
        self.log = (self.tmp / "job.log").open("w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.site_support", kind, str(self.tmp / kind), str(self.report_file)],
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._report: dict | None = None

    def report(self) -> dict:
        """The job's report (waits for it). Fails, or skips where allowed, with the job's own words."""
        import pytest

        if self._report is None:
            code = self.process.wait(TIMEOUT)
            self.log.seek(0)
            if code != 0 or not self.report_file.exists():
                pytest.fail(f"the background {self.kind} job failed (exit {code}):\n{self.log.read()}", pytrace=False)
            self._report = json.loads(self.report_file.read_text())
        report = self._report
        if report["code"] != 0:
            if self.kind == "slides" and any(s in report["output"] for s in NO_REVEAL) and not os.environ.get("CI"):
                pytest.skip(f"reveal.js could not be fetched, so the slides are not tested:\n{report['output']}")
            pytest.fail(
                f"python -m helpers {self.kind} failed (exit {report['code']}):\n{report['output']}", pytrace=False
            )
        return report

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def jobs(config) -> dict[str, Job]:
    if not hasattr(config, "course_site_jobs"):
        config.course_site_jobs = {}
    return config.course_site_jobs


def start(config, kind: str) -> Job:
    found = jobs(config)
    if kind not in found:
        found[kind] = Job(kind)
    return found[kind]


def browser_walk(report: dict) -> dict:
    """The browser's part of a report; skipped without Chromium, except in CI, where it must be there."""
    import pytest

    from tests.support import browser

    if not report["chromium"]:
        message = (
            f"Chromium is not installed, so the {report['kind']} is not opened in a browser. "
            f"Install it: {browser.INSTALL}"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{message} (`make test` installs it when run as root with apt)", pytrace=False)
        pytest.skip(message)
    return report


if __name__ == "__main__":
    run(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
