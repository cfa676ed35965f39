"""The lab without root: a user + mount namespace of the learner's own, in which the lab is root.

    sandbox.needed()               an ordinary user on Linux: every lab command goes through the sandbox
    sandbox.inside()               this process runs in a user namespace (the sandbox, or a rootless container)
    sandbox.ensure()               start the keeper (idempotent); its pid
    sandbox.command(argv, cwd)     argv as run inside: nsenter --target KEEPER --user --mount … -- argv
                                   (the lab's commands go through netns.command(), which calls it when needed)
    sandbox.path("/run/netns")     that directory as the sandbox sees it (/proc/KEEPER/root/run/netns)
    sandbox.socket_in(file, …)     a socket made in the lab namespace ``file`` by a short process inside, passed back
    sandbox.stop()                 end the keeper (after the lab removed what it built)

As root the lab works in the host's own namespaces. An ordinary user cannot create network namespaces
(``ip netns`` needs CAP_SYS_ADMIN) or nftables tables (CAP_NET_ADMIN), but Linux gives them both inside
a user namespace of their own, over the network namespaces created there (user_namespaces(7):
https://man7.org/linux/man-pages/man7/user_namespaces.7.html). So the *keeper*, ``unshare --user
--map-root-user --mount``, holds one such user namespace and a private mount namespace with a tmpfs
of its own on ``/run/netns`` and ``/etc/netns`` (where ``ip netns`` pins namespaces and their
resolv.conf; a directory missing on the host is made in a rebuilt copy of its parent). Lab
commands enter it with ``nsenter --user --mount`` and are root there. The network namespace is NOT
entered: the supervisor and its programs stay in the host's, where the emulator answers on loopback,
exactly as in root mode; only the lab's own namespaces belong to the sandbox.

What differs from root mode, and why:
- a namespace is made with ``unshare --net=FILE`` instead of ``ip netns add`` (which switches back to
  the host's namespace at the end, and the sandbox may not: that one belongs to the real root);
- for the same reason a thread that entered a lab namespace never goes back: sockets are made in a
  thread of their own (helpers/lab/net/netns.py's Netns.socket), and outside the sandbox by a short process inside it that
  passes the socket back over a Unix socket (SCM_RIGHTS, unix(7));
- only the learner's own uid is mapped (to root): nginx's workers run as that root, not www-data;
- memory cgroups belong to the real root, so task ``memory`` limits are not applied (``lab status`` says so).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ... import workspace
from ...errors import CourseError
from ...runtime import lab_machine, processes

LAB_DIR = lab_machine.LAB_DIR  # <workspace>/lab/: the lab's state, logs and the sandbox's
PRIVATE_DIRS = ("/run/netns", "/etc/netns")  # where ip netns keeps namespaces and their /etc files
START_TIMEOUT = 10.0  # seconds for the keeper to mount its directories
SOCKET_TIMEOUT = 10.0  # seconds for one socket from inside
FULL_MAP = "0 0 4294967295"  # /proc/self/uid_map of the initial user namespace

# The keeper: its own tmpfs on each private directory, shared so that namespaces pinned later reach
# the mount namespaces made from this one, then a ready mark, then nothing but holding the namespaces.
# A directory missing on the host (root never ran ip netns there) cannot be made by an ordinary user:
# its parent is rebuilt in the sandbox, a tmpfs holding every entry of the original (bound back, so
# they stay the host's own files) and the new directory. An overlay would be shorter but the kernel
# refuses one, in a user namespace, over a parent that has mounts below it (/run nearly always does).
KEEPER = r"""set -eu
state=$1; shift
mkdir -p "$state/scratch"
mount -t tmpfs -o mode=700 lab-sandbox "$state/scratch"
rebuild() {
  parent=$1
  keep="$state/scratch/keep$(printf %s "$parent" | tr / _)"
  mkdir -p "$keep"
  mount --rbind "$parent" "$keep"
  mount -t tmpfs -o mode=755 lab-view "$parent"
  for entry in "$keep"/* "$keep"/.[!.]* "$keep"/..?*; do  # mkdir -p, touch: mount(8) may make /run/mount
    if [ ! -e "$entry" ] && [ ! -L "$entry" ]; then continue; fi
    name=${entry##*/}
    if [ -L "$entry" ]; then cp -P "$entry" "$parent/$name"
    elif [ -d "$entry" ]; then mkdir -p "$parent/$name"; mount --rbind "$entry" "$parent/$name"
    else touch "$parent/$name"; mount --rbind "$entry" "$parent/$name"
    fi
  done
}
for dir in "$@"; do
  if [ ! -d "$dir" ]; then
    rebuild "$(dirname "$dir")"
    mkdir -p "$dir"
  fi
  mount -t tmpfs -o mode=755 lab-netns "$dir"
  mount --make-shared "$dir"
done
: > "$state/ready"
exec sleep infinity
"""

# Made inside the sandbox (python -I -S: the standard library only, no start-up cost): enter the lab
# namespace, make the socket there, hand it to the caller over the inherited Unix socket.
SOCKET_MAKER = r"""
import ctypes, os, socket, sys
path, family, kind, channel = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
libc = ctypes.CDLL(None, use_errno=True)
if libc.setns(os.open(path, os.O_RDONLY), 0x40000000) != 0:
    sys.exit(f"setns into {path} failed: {os.strerror(ctypes.get_errno())}")
made = socket.socket(family, kind)
socket.send_fds(socket.socket(fileno=channel), [b"s"], [made.fileno()])
"""


def needed() -> bool:
    """An ordinary user on Linux: the lab runs in the sandbox (inside it, this process is root)."""
    return sys.platform.startswith("linux") and os.geteuid() != 0


def inside() -> bool:
    """Does this process run in a user namespace other than the initial one?"""
    try:
        return " ".join(Path("/proc/self/uid_map").read_text().split()) != FULL_MAP
    except OSError:
        return False


def _folder() -> Path:
    folder = workspace.path(LAB_DIR) / "sandbox"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def keeper() -> int | None:
    """The running keeper's pid, or None."""
    try:
        info = json.loads((_folder() / "keeper.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    pid = info.get("pid")
    try:
        same = os.readlink(f"/proc/{pid}/ns/user") == info.get("user_ns")
    except OSError:
        same = False
    return pid if processes.alive(pid) and same else None


def ensure() -> int:
    """The keeper's pid, started when none runs (idempotent)."""
    pid = keeper()
    if pid:
        return pid
    missing = [p for p in ("unshare", "nsenter") if not shutil.which(p)]
    if missing:
        raise CourseError(
            f"The lab without root needs {' and '.join(missing)} (util-linux).",
            "It makes a user namespace of its own with unshare and enters it with nsenter.",
            "apt-get install util-linux (or run the lab as root)",
        )
    folder = _folder()
    (folder / "ready").unlink(missing_ok=True)
    log = open(folder / "keeper.log", "ab")
    argv = ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]
    proc = subprocess.Popen(
        [*argv, "sh", "-c", KEEPER, "lab-sandbox", str(folder), *PRIVATE_DIRS],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,  # like the supervisor: a kernel restart or Ctrl-C does not reach it
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while not (folder / "ready").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            tail = (folder / "keeper.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise CourseError(
                "The lab could not make its user namespace (the lab without root).",
                "\n".join(tail) or "unshare --user --map-root-user --mount did not finish",
                "check that `unshare -Urm true` works for your user (sysctl kernel.unprivileged_userns_clone, "
                "user.max_user_namespaces), or run the lab as root",
            )
        time.sleep(0.02)
    info = {"pid": proc.pid, "user_ns": os.readlink(f"/proc/{proc.pid}/ns/user"), "started": time.time()}
    (folder / "keeper.json").write_text(json.dumps(info) + "\n")
    return proc.pid


def _pid() -> int:
    pid = keeper()
    if not pid:
        raise CourseError(
            "The lab's user namespace is not there (the lab without root).",
            "Its keeper process is not running: the lab is down, or the keeper was stopped.",
            "python -m helpers lab up",
        )
    return pid


def command(argv: list[str] | tuple[str, ...], cwd: str | os.PathLike | None = None) -> list[str]:
    """``argv`` run inside the sandbox, as its root, in the host's network namespace."""
    wd = os.fspath(cwd) if cwd is not None else os.getcwd()
    # --preserve-credentials: the learner's uid is the sandbox's root already (its only mapping), and
    # nsenter's own setgroups() is refused where the keeper's unshare denied setgroups (user_namespaces(7)).
    return ["nsenter", f"--target={_pid()}", "--user", "--mount", "--preserve-credentials", f"--wd={wd}", "--", *argv]


def path(inner: str) -> Path:
    """A path as the sandbox's mount namespace sees it; the host's own path when no keeper runs."""
    pid = keeper()
    return Path(f"/proc/{pid}/root{inner}") if pid else Path(inner)


def socket_in(netns_file: str, family: int, kind: int) -> socket.socket:
    """A socket of lab namespace ``netns_file`` (its path inside the sandbox), made inside and passed here."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        argv = [sys.executable, "-I", "-S", "-c", SOCKET_MAKER, netns_file, str(int(family)), str(int(kind))]
        argv.append(str(theirs.fileno()))
        done = subprocess.run(
            command(argv), pass_fds=[theirs.fileno()], capture_output=True, text=True, timeout=SOCKET_TIMEOUT
        )
        if done.returncode:
            raise CourseError(
                f"The lab could not open a socket in {Path(netns_file).name}.",
                done.stderr.strip() or f"exit status {done.returncode}",
                "python -m helpers lab status (is the lab up?)",
            )
        ours.settimeout(SOCKET_TIMEOUT)
        _, fds, _, _ = socket.recv_fds(ours, 16, 1)
    return socket.socket(fileno=fds[0])


def stop() -> None:
    """End the keeper; its namespaces go once no process holds them."""
    pid = keeper()
    if pid:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while processes.alive(pid) and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.02)
    (_folder() / "keeper.json").unlink(missing_ok=True)
