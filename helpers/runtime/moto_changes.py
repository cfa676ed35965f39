"""How many writes the emulator has served, per AWS service: what the traffic lab looks at, cheaply, to know
whether it must read the emulator's state again.

    GET /_course/changes  ->  {"boot": "<the emulator's boot id>", "changes": {"ec2": 12, "elasticloadbalancing": 40}}

A request is a write unless it only reads: a JSON-protocol operation (``X-Amz-Target``) or a query-protocol
``Action`` named ``Describe…``, ``List…`` or ``Get…``; a REST request (Route 53) with GET or HEAD. Anything else
counts, even a refused one (a reader then reads once for nothing, never misses a change). The service is the one
the request is signed for (its SigV4 credential scope: ``ec2``, ``elasticloadbalancing``, ``ecs``…); a write to
moto's own API (``/moto-api/reset``, signed or not) or an unsigned one counts as ``emulator``. The lab's health checks count as
``lab-target-health`` when they change a target's state (helpers/runtime/moto_lab_health.py). A count goes up once
the write is done, before its caller has the answer, so a reader that looks at the counts first and then reads
the state never misses a write.

Runs inside the emulator process only (helpers/runtime/emulator_server.py).
"""

from __future__ import annotations

import io
import json
import re
import threading
import urllib.parse

UNSIGNED = "emulator"  # an unsigned write: moto's own API (reset)
LAB_TARGET_HEALTH = "lab-target-health"  # the lab's health checks, when they change a target's state
READS = ("Describe", "List", "Get")
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")

_lock = threading.Lock()
_counts: dict[str, int] = {}


def bump(service: str) -> None:
    with _lock:
        _counts[service] = _counts.get(service, 0) + 1


def counts() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def written_service(environ: dict) -> str | None:
    """The service a request may change, or None when it only reads. Reads the body of a form-encoded POST
    (the query protocol's Action) and puts it back for moto."""
    method = environ.get("REQUEST_METHOD", "GET")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        operation = target.rsplit(".", 1)[-1]
    elif "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "") and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if length:  # put it back for moto (without a length there was nothing read to put back)
            environ["wsgi.input"] = io.BytesIO(body)
        operation = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    else:
        operation = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("Action", [""])[0]
    if operation:
        if operation.startswith(READS):
            return None
    elif method in ("GET", "HEAD"):
        return None
    if environ.get("PATH_INFO", "").startswith("/moto-api"):
        return UNSIGNED  # moto's own API, signed or not (a room's reset is signed for "moto"): every reader's
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return scope.group(1) if scope else UNSIGNED


def wsgi(boot: str):
    """The route's handler (GET only)."""

    def answer(environ, start_response):
        if environ.get("REQUEST_METHOD") != "GET":
            start_response("405 Method Not Allowed", [("Content-Type", "application/json")])
            return [json.dumps({"error": "GET only"}).encode()]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"boot": boot, "changes": counts()}).encode()]

    return answer
