"""One network namespace of the lab as one object: commands, processes and sockets inside it.

    ns = Netns("lab-<ws>-internet")
    ns.exists() / ns.add() / ns.delete() / ns.pids() / ns.stop_processes()
    ns.run("cat", "/proc/net/tcp")     a command inside (ip netns exec), waited for, bounded in time
    ns.ip("addr", "add", …)            an ip command on the namespace (ip -n); ns.ip_json("link", "show")
    ns.nft(text)                       an nftables script loaded inside (nft -f -); ns.sysctl(key, value)
    ns.popen(argv, **kw)               a process inside (subprocess.Popen), with the namespace's /etc files
    ns.exec(argv, **kw)                the same, waited for (subprocess.run): any program, its exit status
    ns.socket(), ns.sockets(n)         sockets that live inside, made without moving this process there
    ns.listen(addr, port), await ns.connect(addr, port)   the same for a server and a client (asyncio)

    run(*argv)          the lab's one command runner: bounded in time, through the sandbox when rootless
    command(argv, cwd)  argv as it must be started for the lab (wrapped in the sandbox's nsenter when rootless)
    names(prefix)       the namespaces pinned now whose names start with ``prefix``

Modelled on mininet's ``Node`` (https://github.com/mininet/mininet/blob/master/mininet/node.py: a host is a
shell in a network namespace; ``cmd`` runs a command in it and ``popen`` starts a process there). Here the
namespace is pinned by name in ``/run/netns``, as ``ip netns add`` pins it, and a process inside is started
with ``ip netns exec`` (https://man7.org/linux/man-pages/man8/ip-netns.8.html), which also bind-mounts
the files of ``/etc/netns/<name>/`` over ``/etc``: the lab's DNS writes the internet namespace's
``resolv.conf`` there (helpers/lab/net/dns.py), so any program started by ``popen`` there resolves the
course's names. ``Netns(None)`` is this process's own namespace (the ALB node's tests).

As root the lab's namespaces are the host's; as an ordinary user they live in the sandbox
(helpers/lab/net/sandbox.py): every command goes through ``command()``, which enters it when the lab is
rootless. No other module of helpers/ writes an ``ip netns`` or ``ip -n`` command line
(tests/hygiene/test_netns_commands.py).

Sockets: setns(2) moves only the calling thread, and in the sandbox a thread cannot come back to the
host's namespace (the real root owns it). So a socket is made by a short thread of its own that enters
the namespace and ends there; the socket stays in the namespace whatever thread or process uses it.
Not root and outside the sandbox, a short process inside makes it and passes it back (sandbox.socket_in).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from socket import AF_INET, AF_INET6, SOCK_STREAM  # the defaults (in the class, `socket` is its method)

from ...errors import CourseError
from ...runtime import processes
from . import sandbox

NETNS_DIR = Path("/run/netns")  # where ip netns pins namespaces (inside the sandbox when rootless: netns_dir())
ETC_DIR = Path("/etc/netns")  # ip netns exec bind-mounts /etc/netns/<name>/FILE over /etc/FILE
COMMAND_TIMEOUT = 20.0  # seconds for one ip/nft/sysctl command
CLONE_NEWNET = 0x40000000  # setns(2)'s nstype for a network namespace
POOL = 32  # TCP sockets made per visit by connect() (one short thread per visit, not one per connection)
PROCESS_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for what runs in a namespace being deleted


# ---------------------------------------------------------------- the one command runner


def command(argv: list[str] | tuple[str, ...], cwd: str | os.PathLike | None = None) -> list[str]:
    """``argv`` as the lab starts it: as is when root, inside the sandbox when rootless (sandbox.command)."""
    return sandbox.command(argv, cwd=cwd) if sandbox.needed() else list(argv)


def run(*argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """One lab command, waited for (COMMAND_TIMEOUT); a missing program or a failure as one CourseError."""
    try:
        done = subprocess.run(command(argv), input=input, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except FileNotFoundError:
        raise CourseError(
            f"The lab needs the program {argv[0]!r}, which is not installed.",
            "The lab wires its network with iproute2 (ip), util-linux (unshare, nsenter) and nftables (nft).",
            "install them as root: apt-get install iproute2 util-linux nftables",
        ) from None
    if check and done.returncode:
        raise CourseError(
            f"The lab's command failed: {' '.join(argv[:10])}",
            (done.stderr or done.stdout).strip() or f"exit status {done.returncode}",
            "run `python -m helpers lab status` to see whether the lab can run here; `lab down` removes it all.",
            detail=input or "",
        )
    return done


def netns_dir() -> Path:
    """NETNS_DIR as this process can read it: through the sandbox's mount namespace when rootless."""
    return sandbox.path(str(NETNS_DIR)) if sandbox.needed() else NETNS_DIR


def names(prefix: str = "") -> list[str]:
    """The namespaces pinned now whose names start with ``prefix``, sorted."""
    try:
        return sorted(p.name for p in netns_dir().iterdir() if p.name.startswith(prefix))
    except (FileNotFoundError, PermissionError):
        return []


# ---------------------------------------------------------------- the namespace


class Netns:
    """One named network namespace (``None``: this process's own); a handle, cheap to make."""

    def __init__(self, name: str | None = None):
        self.name = name
        self._pool: list[socket.socket] = []  # unused TCP sockets of the namespace, for connect()

    def __repr__(self) -> str:
        return f"Netns({self.name!r})"

    # -- life

    def exists(self) -> bool:
        return self.name is None or (netns_dir() / self.name).exists()

    def add(self, *, lo_up: bool = False) -> None:
        """Create the namespace, pinned in NETNS_DIR (as ip netns add does); ``lo_up``: its loopback up.

        In a user namespace (the sandbox) ``ip netns add`` fails at its very end, switching back to a
        network namespace the sandbox does not own; ``unshare --net=FILE`` pins it the same way without.
        """
        if sandbox.inside():
            run("touch", str(NETNS_DIR / self.name))
            run("unshare", f"--net={NETNS_DIR / self.name}", "true")
        else:
            run("ip", "netns", "add", self.name)
        if lo_up:
            self.ip("link", "set", "lo", "up")

    def delete(self) -> None:
        """Unpin the namespace (its interfaces go once no process holds it; see stop_processes)."""
        run("ip", "netns", "delete", self.name, check=False)

    def pids(self) -> list[int]:
        """The processes that run in the namespace now."""
        return [int(p) for p in run("ip", "netns", "pids", self.name, check=False).stdout.split()]

    def stop_processes(self, grace: float = PROCESS_GRACE) -> None:
        """SIGTERM every process in the namespace, SIGKILL what is left after ``grace`` seconds."""
        pids = self.pids()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while pids and time.monotonic() < deadline:
                pids = [p for p in pids if processes.alive(p)]
                time.sleep(0.05)
            if not pids:
                return

    def etc(self, file: str) -> Path:
        """Where a file goes that ``popen``'s processes see as /etc/FILE (ip netns exec bind-mounts it)."""
        return ETC_DIR / self.name / file

    # -- commands inside

    def inside(self, argv: list[str] | tuple[str, ...]) -> list[str]:
        """``argv`` as a command line that runs it in the namespace (not yet through the sandbox: command())."""
        return list(argv) if self.name is None else ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """A command inside, waited for (mininet's cmd)."""
        return run(*self.inside(argv), input=input, check=check)

    def popen(self, argv: list[str], *, cwd: str | os.PathLike | None = None, **kwargs) -> subprocess.Popen:
        """A process inside (mininet's popen): subprocess.Popen's keywords; with /etc/netns/<name>'s files."""
        return subprocess.Popen(command(self.inside(argv), cwd=cwd), cwd=cwd, **kwargs)

    def exec(self, argv: list[str], *, cwd: str | os.PathLike | None = None, **kwargs) -> subprocess.CompletedProcess:
        """A program inside, waited for: subprocess.run's keywords (its exit status, not checked); as popen."""
        return subprocess.run(command(self.inside(argv), cwd=cwd), cwd=cwd, **kwargs)

    def ip(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """``ip -n NAME argv``: iproute2 on the namespace (it enters only the network namespace)."""
        return run("ip", "-n", self.name, *argv, check=check)

    def ip_json(self, *argv: str) -> list:
        """ip's JSON answer (``ip -n NAME -j argv``), parsed; [] when ip fails or prints nothing."""
        done = run("ip", "-n", self.name, "-j", *argv, check=False)
        try:
            return json.loads(done.stdout or "[]")
        except ValueError:
            return []

    def nft(self, text: str, *, check: bool = True) -> subprocess.CompletedProcess:
        """An nftables script loaded inside, atomically (nft -f -)."""
        return self.run("nft", "-f", "-", input=text, check=check)

    def nft_json(self, *argv: str) -> list:
        """``nft -j argv`` inside: the "nftables" items of its JSON answer; [] when nft fails (no such table)."""
        done = self.run("nft", "-j", *argv, check=False)
        try:
            return json.loads(done.stdout or "{}").get("nftables", []) if done.returncode == 0 else []
        except ValueError:
            return []

    def sysctl(self, key: str, value: str) -> None:
        self.run("sysctl", "-qw", f"{key}={value}")

    # -- sockets inside

    def socket(self, family: int = AF_INET, kind: int = SOCK_STREAM) -> socket.socket:
        """A socket that lives in the namespace (it stays there whatever thread or process uses it)."""
        return self.sockets(family, kind, 1)[0]

    def sockets(self, family: int = AF_INET, kind: int = SOCK_STREAM, count: int = 1) -> list:
        """``count`` sockets of the namespace, made by one short thread's visit (or one sandbox process each)."""
        if self.name is None:
            return [socket.socket(family, kind) for _ in range(count)]
        if sandbox.needed():
            if not self.exists():
                raise self._missing()
            return [sandbox.socket_in(str(NETNS_DIR / self.name), family, kind) for _ in range(count)]
        made: dict = {"sockets": []}

        def make() -> None:
            try:
                target = os.open(NETNS_DIR / self.name, os.O_RDONLY)
            except FileNotFoundError:
                made["error"] = self._missing()
                return
            try:
                if ctypes.CDLL(None, use_errno=True).setns(target, CLONE_NEWNET) != 0:
                    made["error"] = OSError(
                        ctypes.get_errno(), f"setns into {self.name} failed (the lab needs root or its sandbox)"
                    )
                    return
                made["sockets"] = [socket.socket(family, kind) for _ in range(count)]
            finally:
                os.close(target)

        thread = threading.Thread(target=make, name=f"socket-in-{self.name}")
        thread.start()
        thread.join()
        if "error" in made:
            raise made["error"]
        return made["sockets"]

    def listen(self, address: str, port: int, backlog: int = 512) -> socket.socket:
        """A non-blocking TCP listener on ``address``:``port`` in the namespace; one message when it cannot bind."""
        sock = self.socket(AF_INET6 if ":" in address else AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            where = f"network namespace {self.name}" if self.name else "this process's network namespace"
            raise CourseError(
                f"The lab cannot listen on {address}:{port}: {exc.strerror or exc}.",
                f"A lab server listens on its own addresses, and {address} is not one of {where}, or the port is taken.",
                "give one of its own addresses (python -m helpers lab exec --from HOST -- ip addr shows them), "
                "and stop whatever holds the port.",
            ) from None
        sock.listen(backlog)
        sock.setblocking(False)
        return sock

    async def connect(self, address: str, port: int, *, tls: ssl.SSLContext | None = None):
        """(reader, writer) of a TCP connection from the namespace to address:port; the caller bounds the time."""
        sock = await self.connected(address, port)
        try:
            return await asyncio.open_connection(sock=sock, ssl=tls, server_hostname=address if tls else None)
        except BaseException:
            sock.close()
            raise

    async def connected(self, address: str, port: int) -> socket.socket:
        """A non-blocking TCP socket of the namespace, connected to address:port (no transport or streams:
        for ``loop.sock_sendall``/``sock_recv``); the caller bounds the time and closes it."""
        family = AF_INET6 if ":" in address else AF_INET
        if family != AF_INET:
            sock = self.socket(family)
        else:
            if not self._pool:
                self._pool = self.sockets(family, SOCK_STREAM, POOL)
            sock = self._pool.pop()
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (address, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's transports do
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        """Close the unused sockets of connect()'s pool (no namespace is held open between visits)."""
        while self._pool:
            self._pool.pop().close()

    def _missing(self) -> CourseError:
        return CourseError(
            f"The lab namespace {self.name} does not exist.",
            "The lab is not up, or this host is not part of it (any more).",
            "run `python -m helpers lab up`, then `python -m helpers lab status`.",
        )
