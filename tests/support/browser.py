"""Headless Chromium for the tests, driven over the DevTools protocol.

A minimal client: Chromium started with ``--remote-debugging-port=0``, one
page, JSON messages over a websocket (``websocket-client``, which
jupyter_server already brings). Enough to load a page, run a JavaScript
expression in it, click, and see every request and JavaScript error.

Also: ``serve(folder)`` serves a folder over http on loopback in a thread.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from pathlib import Path

from tests.support.waiting import wait_until

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAC_APP = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
INSTALL = (
    "sudo apt-get install --no-install-recommends chromium   (Debian/Ubuntu; "
    "macOS: install Google Chrome; or set COURSE_CHROMIUM=/path/to/chrome)"
)
TIMEOUT = 90  # seconds for any one wait: generous, the machine may be busy
# What DevTools answers when a page is replaced while it is being asked something:
# the question is retried on the new page (seen on a busy CI machine after a click).
NAVIGATING = (
    "Inspected target navigated or closed",
    "Execution context was destroyed",
    "Cannot find context with specified id",
)


class PageChanged(RuntimeError):
    """The page navigated while DevTools evaluated something in it."""


def find() -> str | None:
    """The Chromium (or Chrome) executable, or None."""
    if os.environ.get("COURSE_CHROMIUM"):
        return os.environ["COURSE_CHROMIUM"]
    for name in NAMES:
        if path := shutil.which(name):
            return path
    return MAC_APP if Path(MAC_APP).exists() else None


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` at http://127.0.0.1:PORT/ (yields the base URL)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class Browser:
    """One headless Chromium with one page."""

    def __init__(self, executable: str):
        import websocket  # websocket-client

        self.profile = tempfile.mkdtemp(prefix="course-chromium-")
        args = [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            f"--user-data-dir={self.profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port = self._devtools_port()
            page = self._wait(
                lambda: next((t for t in self._get(port, "/json/list") if t["type"] == "page"), None),
                "Chromium's first page",
            )
            self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=TIMEOUT, suppress_origin=True)
        except BaseException:
            self.close()
            raise
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")

    def _devtools_port(self) -> int:
        port_file = Path(self.profile) / "DevToolsActivePort"

        def port():
            if self.process.poll() is not None:
                raise RuntimeError(f"Chromium exited with code {self.process.returncode} at start")
            text = port_file.read_text() if port_file.exists() else ""
            return int(text.split()[0]) if text.strip() else None

        return self._wait(port, "Chromium's DevTools port")

    @staticmethod
    def _get(port: int, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return json.load(response)

    @staticmethod
    def _wait(probe, what: str, timeout: float = TIMEOUT):
        return wait_until(probe, within=timeout, what=what, ignoring=(OSError, ValueError, PageChanged))

    def send(self, method: str, **params) -> dict:
        """Call a DevTools method; events that arrive meanwhile are kept in ``events``."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    error = f"{method}: {message['error']}"
                    raise (PageChanged if any(n in error for n in NAVIGATING) else RuntimeError)(error)
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            if any(n in json.dumps(result["exceptionDetails"]) for n in NAVIGATING):
                raise PageChanged(f"JavaScript interrupted by navigation: {result['exceptionDetails']}")
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str = ""):
        """Poll a JavaScript expression until it is truthy; return its value."""
        return self._wait(lambda: self.evaluate(expression), what or expression)

    def open(self, url: str) -> None:
        """Load ``url`` and wait until it and its images have loaded."""
        self.send("Page.navigate", url=url)
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'", url)
        self.images_loaded()

    def click(self, selector: str) -> str:
        """Click the element, wait for the page it leads to, return that page's URL."""
        before = self.evaluate("location.href")
        with contextlib.suppress(PageChanged):  # the click's own navigation may beat DevTools' answer
            self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        self.wait_for(
            f"location.href !== {json.dumps(before)} && document.readyState === 'complete'",
            f"the page behind {selector}",
        )
        self.images_loaded()
        return self.evaluate("location.href")

    def images_loaded(self) -> list[dict]:
        """Every <img> of the page once all have finished loading (or failing)."""
        self.wait_for("Array.from(document.images).every(i => i.complete)", "images to load")
        return self.evaluate(
            "Array.from(document.images).map(i => ({src: i.getAttribute('src').slice(0, 80), "
            "width: i.naturalWidth, height: i.naturalHeight}))"
        )

    def forget(self) -> None:
        """Start ``problems()`` afresh (the browser is shared by several tests)."""
        self.events.clear()

    def problems(self) -> list[str]:
        """Failed requests, HTTP errors, requests off the loopback, JavaScript errors: all seen so far."""
        self.send("Runtime.evaluate", expression="0")  # collect events still in flight
        found = []
        for event in self.events:
            if "/favicon.ico" in json.dumps(event.get("params", {})):
                continue  # the browser asks for one by itself; a missing one hides nothing
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not re.match(r"(data:|blob:|about:|file:|http://127\.0\.0\.1[:/])", url):
                    found.append(f"request off the machine: {url}")
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                found.append(f"HTTP {params['response']['status']}: {params['response']['url']}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                found.append(f"failed: {params.get('errorText')} ({params.get('type')})")
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(f"JavaScript error: {details.get('exception', {}).get('description') or details['text']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"console error: {params['entry']['text']} {params['entry'].get('url', '')}")
        return found

    def screenshot(self, path: Path) -> Path:
        import base64

        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(20)
        wait_until(  # its helper processes may still write there for a moment
            lambda: shutil.rmtree(self.profile, ignore_errors=True) or not os.path.exists(self.profile),
            within=20,
            what="Chromium's profile removed",
            every=0.25,
            otherwise=False,
        )
