"""python -m helpers emulator ACTION: the local AWS emulator, and the one an instructor serves to a room."""

from __future__ import annotations

from ..runtime import emulator, learner
from ..workshop import room
from .parsing import Commands, arg, learner_name, port, positive

EMULATOR = Commands("emulator", "start, stop, inspect or reset the local AWS emulator", dest="action")


@EMULATOR.command("start", "start this workspace's emulator (it starts by itself when needed, too)")
def start(args) -> int:
    print(f"Emulator running at {emulator.start()}")
    return 0


@EMULATOR.command("stop", "stop this workspace's emulator (what it holds is lost)")
def stop(args) -> int:
    if emulator.in_room():
        print(f"This workspace uses the room's emulator at {emulator.room_url()}: only the instructor stops it.")
    print("Emulator stopped." if emulator.stop() else "Emulator was not running.")
    return 0


@EMULATOR.command("status", "which emulator this workspace uses and whether it runs (exit 1 if not)")
def status(args) -> int:
    found = emulator.status()
    if found["room"]:
        if not found["running"]:
            print(emulator.room_down(found["url"]).render())
            return 1
        print(f"Using the room's emulator at {found['url']} (shared; learner {learner.current()}).")
    elif not found["running"]:
        print("Emulator not running. Start it: python -m helpers emulator start")
        return 1
    elif found["serving"]:
        print(
            f"Emulator served to the room at {found['url']} (pid {found['pid']}, workspace {found['workspace']}); "
            f"learners use it with: python -m helpers emulator use {room.room_address()}"
        )
    else:
        print(f"Emulator running at {found['url']} (pid {found['pid']}, workspace {found['workspace']})")
    return 0


@EMULATOR.command(
    "reset",
    "empty the emulator: every resource in it is gone",
    arg("--everyone", action="store_true", help="also the emulator served to a room"),
)
def reset(args) -> int:
    emulator.reset(everyone=args.everyone)
    print(
        "Emulator reset: it holds no resources now. Terraform states in the workspace "
        "still list the old ones; destroy or re-apply them (a later restart of the emulator "
        "does not re-create them)."
    )
    return 0


@EMULATOR.command(
    "serve",
    "(instructors) serve this workspace's emulator to the room",
    arg("--host", default="0.0.0.0", help="the address to listen on (default 0.0.0.0: every interface)"),
    arg("--port", type=port, help="the port (default: 4850, or a free one)"),
    why="emulator serve takes no address: the address to listen on is given with --host.",
    fix="python -m helpers emulator serve --host 0.0.0.0 --port 4850",
)
def serve(args) -> int:
    url = room.serve(host=args.host, port=args.port)
    print(
        f"Room emulator running at {url}. Each learner gets an account of their own: give everyone a\n"
        "credential, e.g. python -m helpers emulator credentials ana ben chen\n"
        "It serves only requests signed with a credential you issued. Its traffic is plain HTTP: serve it on\n"
        "a network you trust (a classroom LAN or VPN), and stop it afterwards: python -m helpers emulator stop"
    )
    return 0


@EMULATOR.command(
    "use",
    "(learners) use the room's emulator at URL ('local': your own again)",
    arg("url", metavar="URL", help="the room emulator's address, as the instructor's serve printed it; or 'local'"),
    arg("--key", help="your room credential's key"),
    arg("--secret", help="your room credential's secret (write --secret=VALUE when it begins with '-')"),
    why="emulator use needs the room emulator's address: it names the instructor's emulator, or 'local' for your own.",
    fix="python -m helpers emulator use http://192.168.1.20:4850   (or: ... use local)",
)
def use(args) -> int:
    print(room.use(args.url, key=args.key, secret=args.secret))
    return 0


@EMULATOR.command(
    "credentials",
    "(instructors) give each named learner a credential for the room",
    arg("names", nargs="+", metavar="NAME", type=learner_name, help="the learners' names"),
    arg("--hours", type=positive, default=12.0, help="how long they are valid (default 12)"),
    why="emulator credentials needs the learners' names (each learner gets a credential, and an account of "
    "their own, by name); --hours is how long the credentials are valid (more than 0).",
    fix="python -m helpers emulator credentials ana ben chen",
)
def credentials(args) -> int:
    url = room.room_address()
    for name, given in room.issue(args.names, hours=args.hours):
        print(f"{name}: {room.use_line(url, given)}")
    print(f"Valid for {args.hours:g} hours. Hand each learner their own line; issuing again replaces it.")
    return 0
