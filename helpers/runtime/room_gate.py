"""The room emulator's door: every request signed with a credential the instructor handed out.

A served room (``python -m helpers emulator serve``) gives each learner an AWS-style key pair and
an account of their own. The emulator (helpers/runtime/emulator_server.py) asks ``admit()`` about
every request: it checks the Signature Version 4 signature with the learner's secret key, as AWS
does (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html), and answers with the
learner's account id, which moto uses to keep every account's resources apart (its
``x-moto-account-id`` header). No valid signature, no answer: anonymous requests, unknown keys,
wrong secrets and expired credentials are refused with AWS's own error codes.

The roster is a JSON file in the instructor's workspace (``room-credentials.json``), written by
helpers/workshop/room.py and re-read whenever it changes, so learners can be added during the day.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ACCOUNT_HEADER = "x-moto-account-id"
INSTRUCTOR = "instructor"
CLOCK_SKEW = 15 * 60  # seconds: AWS refuses a signature whose X-Amz-Date is further off than this
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/]+)/(?P<scope>[^,\s]+),\s*"
    r"SignedHeaders=(?P<headers>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)


@dataclass(frozen=True)
class Credential:
    learner: str
    access_key: str
    secret_key: str
    account: str
    expires: float  # epoch seconds

    @property
    def instructor(self) -> bool:
        return self.learner == INSTRUCTOR


class Refused(Exception):
    """A request the room does not serve: ``code`` and ``message`` as AWS words them."""

    def __init__(self, code: str, message: str, status: int = 403):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class Roster:
    """The room's credentials, read from ``path`` again whenever the file changes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp = None
        self._by_key: dict[str, Credential] = {}

    def credentials(self) -> dict[str, Credential]:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if stamp != self._stamp:
            entries = json.loads(self.path.read_text() or "{}").get("learners", {})
            self._by_key = {
                e["access_key"]: Credential(name, e["access_key"], e["secret_key"], e["account"], e["expires"])
                for name, e in entries.items()
            }
            self._stamp = stamp
        return self._by_key


def admit(roster: Roster, method: str, raw_path: str, headers: dict[str, str], body: bytes, now: float | None = None):
    """The credential that signed this request; ``Refused`` if none did. ``headers``: lower-case names."""
    now = time.time() if now is None else now
    found = AUTHORIZATION.match(headers.get("authorization", ""))
    if not found:
        raise Refused(
            "MissingAuthenticationToken",
            "Request is missing Authentication Token: this room emulator serves only requests signed with "
            "the credential your instructor gave you (python -m helpers emulator use URL --key KEY --secret SECRET).",
        )
    credential = roster.credentials().get(found["key"])
    if credential is None:
        raise Refused(
            "InvalidClientTokenId",
            f"The security token included in the request is invalid: access key {found['key']} is not one of "
            "this room's. Ask your instructor for yours.",
        )
    if now > credential.expires:
        raise Refused(
            "ExpiredToken",
            f"The security token included in the request is expired: the room credential of {credential.learner} "
            "has expired. Ask your instructor for a new one.",
        )
    stamp = headers.get("x-amz-date", "")
    try:
        signed_at = time.mktime(time.strptime(stamp, "%Y%m%dT%H%M%SZ")) - time.timezone
    except ValueError:
        raise Refused("IncompleteSignature", "The request has no valid X-Amz-Date header.") from None
    if abs(now - signed_at) > CLOCK_SKEW:
        raise Refused(
            "SignatureDoesNotMatch", "Signature expired: the request's X-Amz-Date is more than 15 minutes off."
        )
    expected = signature(
        credential.secret_key, method, raw_path, headers, body, found["headers"].split(";"), stamp, found["scope"]
    )
    if not hmac.compare_digest(expected, found["signature"]):
        raise Refused(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided: check the secret key "
            f"of {credential.learner}'s room credential.",
        )
    return credential


def signature(
    secret: str,
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    signed_headers: list[str],
    amz_date: str,
    scope: str,
) -> str:
    """Signature Version 4, step by step as AWS documents it (create-signed-request.html)."""
    path, _, query = raw_path.partition("?")
    canonical = "\n".join(
        [
            method.upper(),
            _canonical_path(path),
            _canonical_query(query),
            "".join(f"{name}:{_trim(headers.get(name, ''))}\n" for name in signed_headers),
            ";".join(signed_headers),
            headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):  # date, region, service, "aws4_request"
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _canonical_path(path: str) -> str:
    # Every service but S3 encodes each path segment twice; the client sent it encoded once.
    segments = urllib.parse.unquote(path or "/").split("/")
    once = [urllib.parse.quote(s, safe="-_.~") for s in segments]
    return "/".join(urllib.parse.quote(s, safe="-_.~") for s in once)


def _canonical_query(query: str) -> str:
    pairs = [p.partition("=") for p in query.split("&") if p]
    encoded = [
        (
            urllib.parse.quote(urllib.parse.unquote_plus(k), safe="-_.~"),
            urllib.parse.quote(urllib.parse.unquote(v), safe="-_.~"),
        )
        for k, _, v in pairs
    ]
    return "&".join(f"{k}={v}" for k, v in sorted(encoded))


def _trim(value: str) -> str:
    return " ".join(value.strip().split())
