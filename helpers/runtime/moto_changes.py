"""What the emulator has written, told to the traffic lab as it happens: a counter and a long-poll.

    GET /_course/changes                  ->  at once
    GET /_course/changes?after=N&wait=S   ->  as soon as a write numbered above N is done, or after S seconds
    {"boot": "<boot id>", "seq": 57, "changes": {"ec2": 12, "elasticloadbalancing": 40},
     "kinds": ["ec2"], "operations": ["ec2:AuthorizeSecurityGroupIngress"], "complete": true}

``seq`` numbers the emulator's writes (all accounts: a caller passes it back as ``after``). ``changes``: how
many writes, per AWS service, concern the caller; ``kinds``: the services written to after ``after`` that
concern the caller, and ``operations`` the operations (``service:Operation``; a REST write: ``service:METHOD``), so a
reader may read again only what they change (``complete`` false when the emulator no longer remembers them all:
then read everything).
An ``after`` above ``seq`` comes from an earlier boot of the emulator and is answered at once. ``wait`` is at
most ``MAX_WAIT`` seconds; a bad ``after`` or ``wait`` is answered 400 with the reason.

A request is a write unless it only reads: a JSON-protocol operation (``X-Amz-Target``) or a query-protocol
``Action`` named ``Describe…``, ``List…`` or ``Get…``; a REST request (Route 53) with GET or HEAD. Anything else
counts, even a refused one (a reader then reads once for nothing, never misses a change). The service is the one
the request is signed for (its SigV4 credential scope: ``ec2``, ``elasticloadbalancing``, ``ecs``…); a write to
moto's own API (``/moto-api/reset``, signed or not) or an unsigned one counts as ``emulator``. The lab's health
checks count as ``lab-target-health`` when what ``describe_target_health`` returns changes
(helpers/runtime/moto_lab_health.py). A write is counted once it is done, before its caller has the answer, so a
reader that hears of a write and then reads the state never misses it.

Accounts: in a served room (helpers/runtime/room_gate.py) each write belongs to its signer's account (the
``x-moto-account-id`` the room's door sets) and a caller hears only of its own account's writes and of the
unsigned ones (a reset concerns everyone). A learner's own emulator has one account: every caller hears of all.

Runs inside the emulator process only (helpers/runtime/emulator_server.py). Stdlib only.
"""

from __future__ import annotations

import io
import json
import re
import threading
import urllib.parse
from collections import deque

UNSIGNED = "emulator"  # an unsigned write: moto's own API (reset)
LAB_TARGET_HEALTH = "lab-target-health"  # the lab's health checks, when they change a target's state
READS = ("Describe", "List", "Get")
MAX_WAIT = 30.0  # seconds a long-poll may wait at most (a caller asks again)
REMEMBERED = 4096  # writes remembered with their kind and account (older: "complete": false)
ACCOUNT = "HTTP_X_MOTO_ACCOUNT_ID"  # set by the room's door to the signer's account
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")

_written = threading.Condition()
_seq = 0
# (seq, service, operation, account or None: every account's)
_log: deque[tuple[int, str, str, str | None]] = deque(maxlen=REMEMBERED)
_counts: dict[tuple[str | None, str], int] = {}  # (account or None, service) -> writes


class BadRequest(ValueError):
    """A long-poll's ``after`` or ``wait`` the route cannot use."""


def bump(service: str, account: str | None = None, operation: str = "") -> int:
    """Count one write to ``service`` (in ``account``; None: every account's); wakes the long-polls. Its seq."""
    global _seq
    with _written:
        _seq += 1
        _log.append((_seq, service, operation, account))
        _counts[(account, service)] = _counts.get((account, service), 0) + 1
        _written.notify_all()
        return _seq


def _concerns(entry_account: str | None, account: str | None) -> bool:
    return entry_account is None or account is None or entry_account == account


def counts(account: str | None = None) -> dict[str, int]:
    """Writes per service that concern ``account`` (None: all of them)."""
    with _written:
        out: dict[str, int] = {}
        for (owner, service), n in _counts.items():
            if _concerns(owner, account):
                out[service] = out.get(service, 0) + n
        return out


def seq() -> int:
    with _written:
        return _seq


def since(after: int, account: str | None = None) -> tuple[list[str], bool]:
    """The services written to after ``after`` that concern ``account``, and whether that list is complete."""
    with _written:
        return _since(after, account)


def _since(after: int, account: str | None) -> tuple[list[str], bool]:
    complete = not _log or _log[0][0] <= after + 1 or after >= _seq
    kinds = {service for n, service, _, owner in _log if n > after and _concerns(owner, account)}
    return sorted(kinds), complete


def _operations(after: int, account: str | None) -> list[str]:
    return sorted({f"{s}:{op}" for n, s, op, owner in _log if n > after and _concerns(owner, account) and op})


def wait(after: int, seconds: float, account: str | None = None) -> tuple[int, list[str], bool]:
    """Block until a write above ``after`` concerns ``account`` (or ``seconds`` pass, or ``after`` is from another
    boot: above the counter); then (seq, kinds, complete)."""
    found = answer(after, seconds, account)
    return found["seq"], found["kinds"], found["complete"]


def answer(after: int, seconds: float, account: str | None = None) -> dict:
    """``wait``'s answer with the operations too: {"seq", "kinds", "operations", "complete"}."""

    def news() -> bool:
        kinds, complete = _since(after, account)
        return after > _seq or bool(kinds) or not complete

    with _written:
        _written.wait_for(news, timeout=seconds)
        kinds, complete = _since(after, account)
        return {"seq": _seq, "kinds": kinds, "operations": _operations(after, account), "complete": complete}


def written(environ: dict) -> tuple[str, str] | None:
    """The service a request may change and its operation (a REST one: its method), or None when it only reads.
    Reads the body of a form-encoded POST (the query protocol's Action) and puts it back for moto."""
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
        return UNSIGNED, method  # moto's own API, signed or not (a room's reset is signed for "moto"): everyone's
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return (scope.group(1) if scope else UNSIGNED), operation or method


def written_account(environ: dict, service: str) -> str | None:
    """The account a write belongs to: the signer's in a room; None (every account's) otherwise or when unsigned."""
    return None if service == UNSIGNED else environ.get(ACCOUNT)


def parse(query: str) -> tuple[int | None, float]:
    """``after`` (None: answer at once) and ``wait`` from the query string; BadRequest says what is wrong."""
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    after_text, wait_text = params.get("after", [None])[-1], params.get("wait", ["0"])[-1]
    try:
        after = None if after_text is None else int(after_text)
    except ValueError:
        raise BadRequest(f"after={after_text}: expected the seq of an earlier answer (an integer >= 0)") from None
    if after is not None and after < 0:
        raise BadRequest(f"after={after}: expected the seq of an earlier answer (an integer >= 0)")
    try:
        seconds = float(wait_text)
    except ValueError:
        raise BadRequest(f"wait={wait_text}: expected seconds, a number from 0 to {MAX_WAIT:g}") from None
    if not 0 <= seconds <= MAX_WAIT:  # also refuses nan
        raise BadRequest(f"wait={wait_text}: expected seconds, a number from 0 to {MAX_WAIT:g}")
    return after, seconds


def wsgi(boot: str):
    """The route's handler (GET only)."""

    def route(environ, start_response):
        if environ.get("REQUEST_METHOD") != "GET":
            return _answer(start_response, "405 Method Not Allowed", {"error": "GET only"})
        try:
            after, seconds = parse(environ.get("QUERY_STRING", ""))
        except BadRequest as bad:
            return _answer(start_response, "400 Bad Request", {"error": str(bad)})
        account = environ.get(ACCOUNT)
        found = {"seq": seq(), "kinds": [], "operations": [], "complete": True}
        if after is not None:
            found = answer(after, seconds, account)
        return _answer(start_response, "200 OK", {"boot": boot, **found, "changes": counts(account)})

    return route


def _answer(start_response, status: str, body: dict):
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
