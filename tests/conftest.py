"""One emulator for the whole test session, in a workspace of its own.

The tests (and the notebooks nbval runs) use ``.course-test`` instead of the
learner's ``.course``, so ``make test`` never touches a course in progress.
"""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("COURSE_WORKSPACE", str(REPO / ".course-test"))
os.environ.pop("COURSE_TARGET", None)  # tests run on the emulator unless a test says otherwise
os.environ.pop("AWS_ENDPOINT_URL", None)

from helpers import emulator, workspace  # noqa: E402  (after COURSE_WORKSPACE is set)


def pytest_sessionstart(session):
    # A fresh start each session: old stacks would make notebooks print
    # "no changes" where their committed outputs say "1 added".
    emulator.stop()
    shutil.rmtree(workspace.path("stacks"), ignore_errors=True)
    (workspace.root() / "config.json").unlink(missing_ok=True)
    emulator.start()


def pytest_sessionfinish(session, exitstatus):
    emulator.stop()


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
