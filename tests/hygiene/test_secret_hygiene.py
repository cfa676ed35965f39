"""No secret in the repository or in any saved notebook output; generated keys stay git-ignored.

What counts as a secret here:
- an AWS access key ID: ``AKIA`` (long-term) or ``ASIA`` (temporary) and 16 more upper-case letters/digits;
- a secret access key: a 40-character base64-looking value assigned to a name like
  ``aws_secret_access_key`` / ``SecretAccessKey`` (INI, shell, Python, JSON or HCL style);
- the header of a PEM private key (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted).

Nothing is allow-listed. The course's own placeholders pass because they do not have these shapes,
not because they are exempt: the emulator's dummy key is the word ``testing`` (helpers/runtime/cloud.py), which
no pattern above matches; the tests build their real-looking key at run time (``"AKIA" + "Q" * 16`` in
tests/runtime/test_cloud.py) so that no such string is stored; moto's own example credentials live in its
package inside ``.venv``, which is git-ignored and never scanned. If one of these patterns ever matches,
the test fails and names the file and line: remove the value (or build it at run time if a test needs it).
"""

from __future__ import annotations

import base64
import json
import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from helpers import workspace
from helpers.tf import certificate

REPO = Path(__file__).resolve().parents[2]

PATTERNS = {
    "AWS access key ID": re.compile(rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    "AWS secret access key": re.compile(
        rb"(?i)(?:aws_?secret_?access_?key|secret_?access_?key|aws_?secret_?key)[\"']?\s*[:=]\s*[\"']?"
        rb"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
    ),
    "private key": re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
}


def find_secrets(data: bytes, where: str) -> list[str]:
    """'where:line: kind' for each match; the secret itself is never repeated in the message."""
    found = []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(data):
            line = data.count(b"\n", 0, match.start()) + 1
            found.append(f"{where}:{line}: {kind}")
    return found


def png_text(png: bytes) -> bytes:
    """The text a PNG carries besides its pixels: its tEXt, zTXt and iTXt chunks."""
    chunks, offset = [], 8
    while offset + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[offset : offset + 8])
        body = png[offset + 8 : offset + 8 + length]
        if kind == b"tEXt":
            chunks.append(body)
        elif kind == b"zTXt":
            keyword, _, rest = body.partition(b"\0")
            chunks.append(keyword + b"\0" + zlib.decompress(rest[1:]))
        elif kind == b"iTXt":
            keyword, _, rest = body.partition(b"\0")
            compressed, text = rest[0], rest[2:].split(b"\0", 2)[-1]
            chunks.append(keyword + b"\0" + (zlib.decompress(text) if compressed else text))
        offset += 12 + length
    return b"\n".join(chunks)


def shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.resolve().is_relative_to(REPO) else path.name


def notebook_outputs(path: Path):
    """(label, bytes) of every output of every cell: each MIME type decoded, metadata included."""
    nb = json.loads(path.read_text())
    for number, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            label = f"{shown(path)} cell {number} {output['output_type']}"
            if "text" in output:
                text = output["text"]
                yield label, ("".join(text) if isinstance(text, list) else text).encode()
            for mime, value in output.get("data", {}).items():
                value = "".join(value) if isinstance(value, list) else value
                if mime.startswith("image/") and not mime.endswith("svg+xml"):
                    raw = base64.b64decode(value)
                    yield f"{label} {mime} (decoded)", raw
                    if mime == "image/png":
                        yield f"{label} {mime} text chunks", png_text(raw)
                else:
                    yield f"{label} {mime}", (value if isinstance(value, str) else json.dumps(value)).encode()
            for key in ("metadata", "traceback"):
                if output.get(key):
                    yield f"{label} {key}", json.dumps(output[key]).encode()


def repository_files() -> list[Path]:
    """Every file git tracks, and every untracked file that is not ignored (what `git add -A` would add)."""
    proc = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"git ls-files failed: {proc.stderr.decode()}"
    return [REPO / name for name in sorted(set(proc.stdout.decode().split("\0"))) if name]


def is_ignored(path: Path) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO, timeout=60).returncode == 0


def test_no_secret_in_any_repository_file():
    files = [p for p in repository_files() if p.is_file()]
    assert len(files) > 50, "git listed too few files: is this the course's repository?"
    found = [hit for path in files for hit in find_secrets(path.read_bytes(), str(path.relative_to(REPO)))]
    assert not found, "secrets (or values shaped like them) in the repository:\n  " + "\n  ".join(found)


def test_no_secret_in_any_notebook_output():
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert notebooks
    outputs = [item for path in notebooks for item in notebook_outputs(path)]
    assert any("image/png" in label for label, _ in outputs), "expected the diagrams among the outputs"
    found = [hit for label, data in outputs for hit in find_secrets(data, label)]
    assert not found, "secrets in saved notebook outputs:\n  " + "\n  ".join(found)


def _png_with_text(text: bytes) -> bytes:
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"zTXt", b"Comment\0\0" + zlib.compress(text))
        + chunk(b"IDAT", zlib.compress(b"\0\0"))
        + chunk(b"IEND", b"")
    )


def test_the_scanner_finds_planted_secrets(tmp_path):
    """Positive control: each kind of secret, planted in a file and in a notebook, is found."""
    key_id = "AKIA" + "TESTPLANTED12345"  # built here, so this file holds no key-shaped string
    secret = "wJalr" + "X" * 30 + "/K7md"
    planted = tmp_path / "planted.env"
    planted.write_text(
        f"export AWS_ACCESS_KEY_ID={key_id}\naws_secret_access_key = {secret}\n-----BEGIN {'PRIVATE'} KEY-----\nMIIB\n"
    )
    kinds = [hit.split(": ", 1)[1] for hit in find_secrets(planted.read_bytes(), "planted.env")]
    assert sorted(kinds) == ["AWS access key ID", "AWS secret access key", "private key"]
    assert find_secrets(f'"SecretAccessKey": "{secret}"'.encode(), "json")  # JSON style too

    png = _png_with_text(f"made with credentials {key_id}".encode())
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "source": "",
                "metadata": {},
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"image/png": base64.b64encode(png).decode(), "text/plain": "<Image>"},
                    }
                ],
            }
        ]
    }
    path = tmp_path / "planted-control.ipynb"
    path.write_text(json.dumps(notebook))
    hits = [hit for label, data in notebook_outputs(path) for hit in find_secrets(data, label)]
    assert hits == ["planted-control.ipynb cell 0 display_data image/png text chunks:1: AWS access key ID"]


def test_placeholders_of_the_course_are_not_secrets():
    """The emulator's dummy key and the tests' fake key do not match: they pass by shape, not by exemption."""
    assert not find_secrets(b"AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing", "env")
    assert not find_secrets(b'key = "AKIA" + "Q" * 16', "tests/conftest.py")


@pytest.mark.parametrize("pair", ["listener", "ca"])
def test_generated_certificates_are_git_ignored(pair):
    """The listener's pair and the course CA's (which signs it): both keys stay in the workspace."""
    # in the test workspace (.course-test), as the notebooks do
    cert, key = certificate.issue() if pair == "listener" else certificate.authority()
    assert cert.parent == workspace.path("certs", *(["ca"] if pair == "ca" else []))
    assert key.stat().st_mode & 0o077 == 0, "the private key must be readable by its owner only"
    assert b"PRIVATE KEY-----" in key.read_bytes()  # a real key, so ignoring it matters
    inside = key.relative_to(workspace.path())
    # The workspaces inside the repository: the learner's (.course) and the tests' (.course-test).
    for path in (REPO / ".course" / inside, REPO / ".course-test" / inside):
        assert is_ignored(path), f"{path.relative_to(REPO)} is not git-ignored"
    if key.resolve().is_relative_to(REPO):  # COURSE_TEST_WORKSPACE may put the workspace elsewhere
        assert is_ignored(cert) and is_ignored(key)
        addable = {p.resolve() for p in repository_files()}
        assert key.resolve() not in addable and cert.resolve() not in addable
