"""The emulator process: moto's server, corrected where moto and AWS differ.

Started by ``helpers.runtime.emulator.start()``; not meant to be run by hand.
It binds to loopback (``--host`` another address: ``emulator serve``, for a
workshop room) and answers ``/_course/health`` so the launcher can
tell its own server from any other program on the port.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import uuid
from pathlib import Path

from helpers.runtime import (
    emulator_routes,
    moto_changes,
    moto_fixes,
    moto_lab_ecs,
    moto_lab_health,
    moto_speed,
    room_gate,
)

ACM_VALIDATION_WAIT = 5  # seconds from request to ISSUED for a DNS-validated certificate on the emulator
# The traffic lab's writes that no AWS API offers (helpers/lab/): behind the room's door like every request.
LAB_ROUTES = {
    emulator_routes.LAB_TARGET_HEALTH: moto_lab_health.wsgi,  # the lab ALB's health checks
    emulator_routes.LAB_SERVICE_EVENT: moto_lab_ecs.wsgi,  # the lab ECS agent's service events
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--room-credentials", help="a served room: serve only requests signed with these credentials")
    args = parser.parse_args(argv)

    # AWS managed IAM policies (e.g. AmazonEC2ContainerServiceforEC2Role) exist
    # only when moto is asked to load them.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    # ACM issues a DNS-validated certificate once its validation record exists; moto marks it ISSUED
    # this many seconds after the request (its default, 60 s, would be a minute of waiting per apply).
    # AWS: usually minutes, retried for up to 72 hours (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html).
    os.environ.setdefault("MOTO_ACM_VALIDATION_WAIT", str(ACM_VALIDATION_WAIT))
    os.environ["MOTO_PORT"] = str(args.port)

    from moto.moto_server.werkzeug_app import (  # moto: loaded only in the emulator's own process
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple  # the emulator's own process only

    applied = moto_fixes.apply()
    applied += moto_lab_health.apply()  # after the fixes: it wraps their (id, port) targets
    speedups = moto_speed.apply()  # the same answers, with per-request work done once
    moto_app = DomainDispatcherApplication(create_backend_app)
    # New on every start: moto keeps everything in memory, so a new boot id means an empty
    # emulator; helpers/course/recovery.py compares it with the one each stack was applied against.
    boot = uuid.uuid4().hex
    changes = moto_changes.wsgi(boot)
    health = json.dumps(
        {
            "service": "course-emulator",
            "pid": os.getpid(),
            "workspace": args.workspace,
            "boot": boot,
            "fixes": applied,
            "speedups": speedups,
            "accounts": "per learner" if args.room_credentials else "one",
        }
    ).encode()
    roster = room_gate.Roster(Path(args.room_credentials)) if args.room_credentials else None

    def app(environ, start_response):
        if environ.get("PATH_INFO") == emulator_routes.HEALTH:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [health]
        if roster is not None:
            try:
                credential = _admit(roster, environ)
            except room_gate.Refused as refused:
                return _refusal(refused, environ, start_response)
            if environ.get("PATH_INFO") == emulator_routes.ROOM_WHOAMI:
                answer = json.dumps({"learner": credential.learner, "account": credential.account}).encode()
                start_response("200 OK", [("Content-Type", "application/json")])
                return [answer]
        if environ.get("PATH_INFO") in LAB_ROUTES:
            return LAB_ROUTES[environ["PATH_INFO"]](environ, start_response)
        if environ.get("PATH_INFO") == emulator_routes.CHANGES:
            return changes(environ, start_response)
        written = moto_changes.written(environ)
        try:
            return moto_app(environ, start_response)
        finally:
            if written:  # done: counted before the caller has the answer (the lab's readers rely on it)
                service, operation = written
                moto_changes.bump(service, moto_changes.written_account(environ, service), operation)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"course emulator: moto on {args.host}:{args.port}, fixes: {', '.join(applied) or 'none'}", flush=True)
    # threaded: one thread per request, so a room of learners' Terraform runs are served side by side.
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


def _admit(roster: room_gate.Roster, environ: dict) -> room_gate.Credential:
    """Let a request in as its signer's account, or raise ``room_gate.Refused``."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    query = environ.get("QUERY_STRING", "")
    raw_path = (
        environ.get("RAW_URI")
        or environ.get("REQUEST_URI")
        or (environ.get("PATH_INFO", "/") + (f"?{query}" if query else ""))
    )
    credential = room_gate.admit(roster, environ.get("REQUEST_METHOD", "GET"), raw_path, headers, body)
    if environ.get("PATH_INFO", "").startswith("/moto-api") and not credential.instructor:
        raise room_gate.Refused(
            "AccessDenied", "Only the instructor may reset or inspect the whole room emulator (/moto-api)."
        )
    chosen = environ.pop("HTTP_" + room_gate.ACCOUNT_HEADER.upper().replace("-", "_"), None)
    # Only the instructor may look into another account (the facilitator's view); a learner is their account.
    environ["HTTP_X_MOTO_ACCOUNT_ID"] = chosen if credential.instructor and chosen else credential.account
    return credential


def _refusal(refused: room_gate.Refused, environ: dict, start_response):
    if "json" in environ.get("CONTENT_TYPE", ""):
        body = json.dumps({"__type": refused.code, "message": refused.message}).encode()
        kind = "application/x-amz-json-1.1"
    else:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{refused.code}</Code><Message>{refused.message}</Message></Error></ErrorResponse>"
        ).encode()
        kind = "text/xml"
    start_response(f"{refused.status} Forbidden", [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    main()
