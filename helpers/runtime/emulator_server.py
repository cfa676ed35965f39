"""The emulator process: moto's server, corrected where moto and AWS differ.

Started by ``helpers.runtime.emulator.start()``; not meant to be run by hand.
It binds to loopback (``--host`` another address: ``emulator serve``, for a
workshop room) and answers ``/_course/health`` so the launcher can
tell its own server from any other program on the port.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import uuid

from helpers.runtime import (
    moto_fixes,
    moto_lab_ecs,  # the lab ECS agent's writes (service events)
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)

    # AWS managed IAM policies (e.g. AmazonEC2ContainerServiceforEC2Role) exist
    # only when moto is asked to load them.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    os.environ["MOTO_PORT"] = str(args.port)

    from moto.moto_server.werkzeug_app import (  # moto: loaded only in the emulator's own process
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple  # the emulator's own process only

    applied = moto_fixes.apply()
    moto_app = DomainDispatcherApplication(create_backend_app)
    health = json.dumps(
        {
            "service": "course-emulator",
            "pid": os.getpid(),
            "workspace": args.workspace,
            # New on every start: moto keeps everything in memory, so a new boot id means an empty
            # emulator; helpers/course/recovery.py compares it with the one each stack was applied against.
            "boot": uuid.uuid4().hex,
            "fixes": applied,
        }
    ).encode()

    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/_course/health":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [health]
        if environ.get("PATH_INFO") == moto_lab_ecs.PATH:  # the lab's ECS agent: service events
            return moto_lab_ecs.wsgi(environ, start_response)
        return moto_app(environ, start_response)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"course emulator: moto on {args.host}:{args.port}, fixes: {', '.join(applied) or 'none'}", flush=True)
    # threaded: one thread per request, so a room of learners' Terraform runs are served side by side.
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
