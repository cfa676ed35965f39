"""python -m helpers hub ACTION: the workshop hub, one JupyterHub for the room (helpers/workshop/hub.py)."""

from __future__ import annotations

import argparse

from ..workshop import hub, hub_limits, hub_users, room
from .parsing import Commands, arg, port, positive


def memory(text: str) -> str:
    """A size like 3G or 512M (JupyterHub's mem_limit suffixes)."""
    try:
        hub_limits.size(text)
    except ValueError as wrong:
        raise argparse.ArgumentTypeError(str(wrong)) from None
    return text.strip().upper()


def seats(text: str) -> int:
    """1 to the room's capacity: one room emulator serves the hub's learners (helpers/workshop/room.py)."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= room.CAPACITY:
        raise argparse.ArgumentTypeError(f"a number of learners from 1 to {room.CAPACITY} (one room's), not {text}")
    return count


HUB = Commands("hub", "(instructors) run the workshop hub: JupyterHub, a server and a lab per learner", dest="action")


@HUB.command(
    "start",
    "start the hub (as root, Linux): learners log in with the password and a name of their choice",
    arg("--host", default=hub.HOST, help=f"the address to listen on (default {hub.HOST}; 0.0.0.0: the room's LAN)"),
    arg("--port", type=port, default=hub.PORT, help=f"the port (default {hub.PORT})"),
    arg("--password", help="the workshop's password, 8 characters or more (default: the saved one, or a new one)"),
    arg("--cull-after", type=positive, default=hub.CULL_AFTER, help="seconds idle before a server is stopped"),
    arg("--memory", type=memory, default=hub.MEMORY, help=f"each learner's memory limit (default {hub.MEMORY})"),
    arg("--cpus", type=positive, default=hub.CPUS, help=f"each learner's CPU limit in cores (default {hub.CPUS:g})"),
    arg(
        "--learners",
        type=seats,
        default=room.CAPACITY,
        help=f"how many learners the hub takes (default and most: the room's {room.CAPACITY})",
    ),
    why="hub start takes only options: where to listen, the password, the idle time and each learner's limits.",
    fix="sudo .venv/bin/python -m helpers hub start --host 0.0.0.0 --port 8000",
)
def start(args) -> int:
    cull_every = min(hub.CULL_EVERY, max(1, int(args.cull_after) // 2))
    record = hub.start(
        host=args.host,
        port=args.port,
        password=args.password,
        cull_after=int(args.cull_after),
        cull_every=cull_every,
        memory=args.memory,
        cpus=args.cpus,
        seats=args.learners,
    )
    print(
        f"Hub running at {record['url']} (pid {record['pid']}); its room emulator: {record['room']}.\n"
        f"Learners open the URL and log in with a name of their choice and the password: {record['password']}\n"
        f"It takes {args.learners} learners; idle servers stop after {int(args.cull_after)} s; each learner may "
        f"use {args.memory} and {args.cpus:g} CPU.\nStop it: python -m helpers hub stop"
    )
    return 0


@HUB.command("status", "whether the hub runs, where, and its learners (exit 1 if not)")
def status(args) -> int:
    hub.require_root("status")
    print(hub.describe())
    return 0 if hub.status() else 1


@HUB.command(
    "stop",
    "stop the hub, every learner's server and the room emulator it started",
    arg("--remove-learners", action="store_true", help="also delete the learners' Unix users and their homes"),
)
def stop(args) -> int:
    hub.require_root("stop")
    removed = hub.stop(remove_learners=args.remove_learners)
    print("Hub stopped." + (f" Removed users: {', '.join(removed)}." if removed else ""))
    return 0


@HUB.command(
    "release",
    "free a learner's name for their next login from another browser (their files and account stay theirs)",
    arg("name", help="the learner's name, as they logged in"),
    why="hub release takes the one name to free.",
    fix="python -m helpers hub release ana",
)
def release(args) -> int:
    hub.require_root("release")
    freed = hub_users.release(args.name)
    if freed == "seat":
        print(f"{args.name} is free and its seat given back: it never started a server here.")
    elif freed == "name":
        print(
            f"{args.name} is free: the next browser that logs in with it (and the password) holds it, with "
            f"{args.name}'s files and account. A browser still logged in as {args.name} stays so until it logs out: "
            "release a name only for the learner who owns it."
        )
    else:
        print(f"{args.name} is held by no browser on this hub (or this is not the hub's workspace: hub status).")
        return 1
    return 0
