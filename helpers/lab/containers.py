"""Containers as real processes inside one instance namespace, wired as Docker's bridge mode.

``DockerHost(instance_ns, instance_address, ws)`` is one EC2 instance's container
runtime. Inside the instance namespace it keeps:

- a bridge ``docker0`` with 172.17.0.1/16 (Docker's default bridge), IPv4 forwarding on;
- per container a network namespace ``lab-<ws>-c-<task>-<container>`` whose ``eth0`` is
  one end of a veth pair plugged into ``docker0``, address 172.17.0.x/16, default route
  via 172.17.0.1;
- the nftables table ``ip lab_docker``: for each bridge-mode port mapping a DNAT from the
  instance's address:hostPort to container:containerPort, in ``prerouting`` (traffic from
  outside) and in ``output`` (traffic the instance sends itself), and a masquerade of the
  containers' traffic leaving by another interface than docker0, as Docker's iptables
  rules do (https://docs.docker.com/engine/network/packet-filtering-firewalls/). It never
  touches the security-group table ``inet lab_sg``.

``hostPort: 0`` takes a free port from the instance namespace's own
``/proc/sys/net/ipv4/ip_local_port_range`` (Docker's ephemeral range, read there), the
next one after the last it handed out, as Docker's port allocator does
(moby: libnetwork/portallocator), so a replacement task gets a new host port.
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PortMapping.html

Each container process runs in its own mount namespace (``unshare -m``) with bind mounts:
its image's files (helpers/lab/images.py: the nginx image's /etc/nginx...), a private
/tmp, and an /etc/hosts holding its ``links`` (linked container's address, alias and
name, as Docker's legacy links write it: https://docs.docker.com/engine/network/links/).
It gets the container definition's ``entryPoint`` + ``command`` (an ``entryPoint`` replaces
the image's and drops its default command, as in Docker) and ``environment``; its
stdout and stderr go to ``<workspace>/lab/logs/<task>-<container>.log``.
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html

``memory`` (MiB) is a hard limit in a memory cgroup: cgroup v2 (``memory.max``) where
the unified hierarchy has the memory controller, else cgroup v1 (``memory.limit_in_bytes``);
where neither is writable the limit is not applied and ``memory_limits()`` says why.
On the machine this was built on the v2 hierarchy has no memory controller (hybrid mode), so
the v1 controller is used. Inside ``ip netns exec`` /sys is a fresh sysfs without cgroup mounts:
the hierarchy is then mounted in that process's own private mount namespace, never in the host's
(the lab's agent runs as a thread of the supervisor, in the host's namespaces, and does not need it).
A container's first process writes itself into its cgroup's ``cgroup.procs`` before it execs (no
``preexec_fn``: unsafe in a process with threads), and the runtime writes it too, so it is in the
cgroup when ``run_task`` returns.

Stopping a container: SIGTERM, then SIGKILL after ``stop_timeout`` seconds (ECS's
ECS_CONTAINER_STOP_TIMEOUT, 30 s by default), then its netns, veth, rules and cgroup go.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import workspace
from ..errors import CourseError
from . import images, kernel

BRIDGE = "docker0"
BRIDGE_ADDRESS = "172.17.0.1"
BRIDGE_PREFIX = 16
SUBNET = "172.17.0.0/16"
TABLE = "lab_docker"
STOP_TIMEOUT = 30.0  # ECS_CONTAINER_STOP_TIMEOUT's default
COMMAND_TIMEOUT = 20.0


def ws_id(path: Path | None = None) -> str:
    """The ``<ws>`` of namespace names: the first 6 hex chars of sha1 of the workspace path."""
    return hashlib.sha1(str(path or workspace.root()).encode()).hexdigest()[:6]


def _run(argv: list, *, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except FileNotFoundError:
        raise CourseError(
            f"The lab needs the program {argv[0]!r}, which is not installed.",
            "Containers are wired with iproute2 (ip), util-linux (unshare) and nftables (nft).",
            "install them as root: apt-get install iproute2 util-linux nftables",
        ) from None
    if check and done.returncode != 0:
        raise CourseError(
            f"The lab's command failed: {' '.join(map(str, argv[:8]))}",
            (done.stderr or done.stdout).strip() or f"exit status {done.returncode}",
            "run the lab as root on Linux (python -m helpers doctor says whether it can run here).",
        )
    return done


def _in(ns: str, *argv, **kw) -> subprocess.CompletedProcess:
    return _run(["ip", "netns", "exec", ns, *argv], **kw)


# --- memory limits --------------------------------------------------------------


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) of every mount this process sees."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) > 4 and len(rparts) >= 3:
            found.append((parts[4].replace("\\040", " "), rparts[0], rparts[2]))
    return found


def _own_cgroup(v1_controller: str | None) -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (v1_controller is None and controllers == "") or (v1_controller in controllers.split(",")):
            return path
    return "/"


def _find_memory_hierarchy() -> tuple[str, Path] | None:
    for point, fstype, _options in _mounts():
        if fstype == "cgroup2":
            controllers = Path(point, "cgroup.controllers")
            if controllers.is_file() and "memory" in controllers.read_text().split():
                return "v2", Path(point)
    for point, fstype, options in _mounts():
        if fstype == "cgroup" and "memory" in options.split(","):
            return "v1", Path(point)
    return None


_hierarchy_cache: dict = {}


def memory_hierarchy() -> tuple[str, Path] | tuple[None, str]:
    """("v2"|"v1", the directory the lab's cgroups go under) or (None, why not)."""
    if "value" in _hierarchy_cache:
        return _hierarchy_cache["value"]
    found = _find_memory_hierarchy()
    private_mnt = os.readlink("/proc/self/ns/mnt") != _safe_readlink("/proc/1/ns/mnt")
    if found is None and private_mnt:
        # Inside `ip netns exec` (a private mount namespace with a fresh /sys): mount it here, privately.
        point = Path("/sys/fs/cgroup")
        for kind, argv in (("v2", ["mount", "-t", "cgroup2", "none", str(point)]),):
            if _run(argv, check=False).returncode == 0:
                controllers = point / "cgroup.controllers"
                if controllers.is_file() and "memory" in controllers.read_text().split():
                    found = (kind, point)
                else:
                    _run(["umount", str(point)], check=False)
        if found is None:
            _run(["mount", "-t", "tmpfs", "lab-cgroup", str(point)], check=False)
            (point / "memory").mkdir(exist_ok=True)
            if (
                _run(
                    ["mount", "-t", "cgroup", "-o", "memory", "lab-memory", str(point / "memory")], check=False
                ).returncode
                == 0
            ):
                found = ("v1", point / "memory")
    if found is None:
        value = (None, "no memory cgroup hierarchy is mounted (neither cgroup v2 with the memory controller nor v1)")
    else:
        kind, point = found
        base = point / _own_cgroup(None if kind == "v2" else "memory").lstrip("/")
        if not os.access(base, os.W_OK):
            value = (None, f"the memory cgroup {base} is not writable here (cgroups delegated read-only?)")
        else:
            value = (kind, base)
    _hierarchy_cache["value"] = value
    return value


def _safe_readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def memory_limits() -> str:
    """One line for `lab status`: how container ``memory`` limits are applied, or why not."""
    kind, where = memory_hierarchy()
    if kind is None:
        return f"memory limits: NOT applied ({where}); containers run without their task definition's `memory`"
    file = "memory.max" if kind == "v2" else "memory.limit_in_bytes"
    return f"memory limits: hard, cgroup {kind} ({file} under {where})"


def _make_cgroup(name: str, mib: int | None) -> Path | None:
    kind, base = memory_hierarchy()
    if kind is None or not mib:
        return None
    group = Path(base) / name
    group.mkdir(exist_ok=True)
    limit = str(int(mib) * 1024 * 1024)
    (group / ("memory.max" if kind == "v2" else "memory.limit_in_bytes")).write_text(limit)
    if kind == "v2" and (group / "memory.swap.max").exists():
        (group / "memory.swap.max").write_text("0")  # a hard limit: no swapping past it
    return group


def _procs(group: Path) -> str:
    return str(group / "cgroup.procs")


def _join_cgroup(group: Path, pid: int) -> None:
    """Move process ``pid`` into ``group`` (a process already there, or already gone, is fine)."""
    try:
        with open(_procs(group), "w") as fh:
            fh.write(str(pid))
    except ProcessLookupError:
        pass  # it exited already: the caller sees its exit status


def _remove_cgroup(group: Path | None) -> None:
    if group is None:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


# --- the container -------------------------------------------------------------


@dataclass
class Container:
    task: str
    name: str
    namespace: str
    address: str
    veth: str
    log: Path
    ports: dict = field(default_factory=dict)  # containerPort -> hostPort
    process: subprocess.Popen | None = None
    cgroup: Path | None = None
    memory_mib: int | None = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _veth_name(namespace: str) -> str:
    return "vl" + hashlib.sha1(namespace.encode()).hexdigest()[:8]


def _links(definition: dict) -> list[tuple[str, str]]:
    """[(linked container, alias)] of a container definition's ``links`` ("api" or "api:alias")."""
    out = []
    for link in definition.get("links") or []:
        name, _, alias = str(link).partition(":")
        out.append((name, alias or name))
    return out


def _argv(definition: dict, image: images.Image) -> list[str]:
    """Docker's rule: entryPoint replaces the image's ENTRYPOINT and drops its CMD; command replaces CMD."""
    entry = definition.get("entryPoint")
    command = definition.get("command")
    if entry:
        argv = list(entry) + list(command or [])
    else:
        argv = list(image.entry_point) + list(command if command else image.command)
    if not argv:
        raise CourseError(
            f"Container {definition.get('name')!r} has nothing to run (task definition fields `entryPoint` and `command`).",
            "Neither the container definition nor its image names a command.",
            "give the container a `command`.",
        )
    return argv


def check_definition(definition: dict) -> None:
    """Raise for what the lab cannot run in a container definition, naming the field."""
    name = definition.get("name", "?")
    for key, why in (
        ("mountPoints", "the lab mounts no task volumes"),
        ("volumesFrom", "the lab mounts no task volumes"),
        ("privileged", "the lab runs no privileged container"),
    ):
        if definition.get(key):
            raise CourseError(
                f"The lab cannot run container {name!r}: task definition field `{key}` is set.",
                f"{why.capitalize()}.",
                f"remove `{key}` from the container definition, or run this task on AWS.",
            )
    for mapping in definition.get("portMappings") or []:
        if (mapping.get("protocol") or "tcp") != "tcp":
            raise CourseError(
                f"The lab cannot map a {mapping.get('protocol')} port of container {name!r} (field `portMappings`).",
                "The lab forwards TCP only.",
                'use protocol "tcp" in the port mapping.',
            )


class DockerHost:
    """The container runtime of one instance namespace: docker0, container netns, lab_docker rules."""

    def __init__(self, instance_ns: str, instance_address: str, ws: str | None = None, workdir: Path | None = None):
        self.instance_ns = instance_ns
        self.instance_address = instance_address
        self.ws = ws or ws_id()
        self.workdir = Path(workdir or workspace.path("lab"))
        self.containers: dict[str, Container] = {}  # namespace -> Container
        self._last_port = 0
        self._ready = False

    # -- the instance side --------------------------------------------------

    def ensure(self) -> None:
        """docker0, forwarding and the lab_docker table in the instance namespace (idempotent)."""
        if self._ready:
            return
        links = json.loads(_run(["ip", "-n", self.instance_ns, "-j", "link", "show"]).stdout or "[]")
        if not any(link.get("ifname") == BRIDGE for link in links):
            _run(["ip", "-n", self.instance_ns, "link", "add", BRIDGE, "type", "bridge"])
            _run(["ip", "-n", self.instance_ns, "addr", "add", f"{BRIDGE_ADDRESS}/{BRIDGE_PREFIX}", "dev", BRIDGE])
        _run(["ip", "-n", self.instance_ns, "link", "set", BRIDGE, "up"])
        _in(self.instance_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        if _in(self.instance_ns, "nft", "list", "table", "ip", TABLE, check=False).returncode != 0:
            _in(
                self.instance_ns,
                "nft",
                "-f",
                "-",
                input=f"""table ip {TABLE} {{
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
  chain output {{ type nat hook output priority -100; policy accept; }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {SUBNET} oifname != "{BRIDGE}" masquerade
  }}
}}
""",
            )
        self._ready = True

    def port_range(self) -> tuple[int, int]:
        """The instance namespace's own ip_local_port_range, read inside it."""
        text = _in(self.instance_ns, "cat", "/proc/sys/net/ipv4/ip_local_port_range").stdout.split()
        return int(text[0]), int(text[1])

    def busy_ports(self) -> set[int]:
        """Host ports in use on the instance: mapped by a container, or listening in its namespace."""
        busy = {port for c in self.containers.values() for port in c.ports.values()}
        listing = _in(self.instance_ns, "cat", "/proc/net/tcp", "/proc/net/tcp6", check=False).stdout
        for line in listing.splitlines()[1:]:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A" and ":" in parts[1]:  # LISTEN
                busy.add(int(parts[1].rsplit(":", 1)[1], 16))
        return busy

    def _free_host_port(self) -> int:
        low, high = self.port_range()
        busy = self.busy_ports()
        start = self._last_port + 1 if low <= self._last_port < high else low
        span = high - low + 1
        for offset in range(span):
            port = low + (start - low + offset) % span
            if port not in busy:
                self._last_port = port
                return port
        raise CourseError(
            f"No free host port is left in {self.instance_ns}'s range {low}-{high}.",
            "Every port of the instance's ip_local_port_range is mapped or listening.",
            "stop some tasks (lower the service's desired_count).",
        )

    def _free_address(self) -> str:
        used = {c.address for c in self.containers.values()}
        for n in range(2, 255 * 256):
            address = f"172.17.{n // 256}.{n % 256}"
            if n % 256 not in (0, 255) and address not in used:
                return address
        raise CourseError("docker0 is full.", "Every address of 172.17.0.0/16 is in use.", "stop some tasks.")

    # -- one task ------------------------------------------------------------

    def container_ns(self, task: str, name: str) -> str:
        return f"lab-{self.ws}-c-{task}-{name}"

    def run_task(self, task: str, definitions: list[dict], stop_timeout: float = STOP_TIMEOUT) -> list[Container]:
        """Start every container of one task (linked ones first); on failure, nothing is left."""
        for definition in definitions:
            check_definition(definition)
            image = images.image_for(definition.get("image", ""), definition.get("name", ""))
            _argv(definition, image)
            image.program_path()
        by_name = {d["name"]: d for d in definitions}
        for d in definitions:
            for linked, _ in _links(d):
                if linked not in by_name:
                    raise CourseError(
                        f"Container {d['name']!r} links to {linked!r}, which is not in the task (field `links`).",
                        "A link names another container of the same task definition.",
                        f"add a container named {linked!r} or remove the link.",
                    )
        order, seen = [], set()

        def visit(name: str, path: tuple = ()) -> None:
            if name in seen:
                return
            if name in path:
                raise CourseError(
                    f"The task's `links` form a cycle through {name!r}.",
                    "Docker starts a linked container before the one that links to it.",
                    "remove one of the links.",
                )
            for linked, _ in _links(by_name[name]):
                visit(linked, path + (name,))
            seen.add(name)
            order.append(name)

        for d in definitions:
            visit(d["name"])
        self.ensure()
        started: list[Container] = []
        addresses = {}
        for name in order:
            addresses[name] = self._free_address_reserving(task, name)
        try:
            for name in order:
                started.append(self._start(task, by_name[name], addresses))
        except BaseException:
            # Everything this task made goes, the half-built container's netns and cgroup included.
            for name in reversed(order):
                reserved = self.containers.get(self.container_ns(task, name))
                if reserved is not None:
                    self.stop(reserved, timeout=stop_timeout)
            raise
        return started

    def _free_address_reserving(self, task: str, name: str) -> str:
        address = self._free_address()
        ns = self.container_ns(task, name)
        self.containers[ns] = Container(
            task, name, ns, address, _veth_name(ns), self.workdir / "logs" / f"{task}-{name}.log"
        )
        return address

    def _start(self, task: str, definition: dict, addresses: dict) -> Container:
        name = definition["name"]
        container = self.containers[self.container_ns(task, name)]
        image = images.image_for(definition["image"], name)
        ns, veth, peer = container.namespace, container.veth, "vp" + container.veth[2:]
        root = self.workdir / "containers" / f"{task}-{name}"
        root.mkdir(parents=True, exist_ok=True)
        container.log.parent.mkdir(parents=True, exist_ok=True)
        # Network: netns, veth into docker0, address, default route.
        kernel.add_ns(ns)
        _run(["ip", "-n", self.instance_ns, "link", "add", veth, "type", "veth", "peer", "name", peer])
        _run(["ip", "-n", self.instance_ns, "link", "set", peer, "netns", ns])
        _run(["ip", "-n", ns, "link", "set", peer, "name", "eth0"])
        _run(["ip", "-n", ns, "addr", "add", f"{container.address}/{BRIDGE_PREFIX}", "dev", "eth0"])
        _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        _run(["ip", "-n", ns, "route", "add", "default", "via", BRIDGE_ADDRESS])
        _run(["ip", "-n", self.instance_ns, "link", "set", veth, "master", BRIDGE, "up"])
        # Files: the image's, a private /tmp, /etc/hosts with the links.
        binds = images.prepare(image, root)
        (root / "tmp").mkdir(exist_ok=True)
        (root / "tmp").chmod(0o1777)
        hostname = f"{task}-{name}"[:63]
        hosts = [
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            f"{container.address}\t{hostname}",
        ]
        for linked, alias in _links(definition):
            names = alias if alias == linked else f"{alias} {linked}"
            hosts.append(f"{addresses[linked]}\t{names} {task}-{linked}")
        (root / "hosts").write_text("\n".join(hosts) + "\n")
        binds["/etc/hosts"] = str(root / "hosts")
        binds["/tmp"] = str(root / "tmp")  # last: the other sources may lie under /tmp
        script = "set -e; " + " ".join(f'mount --bind "{src}" "{dst}";' for dst, src in binds.items())
        script += f' hostname "{hostname}"; exec "$@"'
        env = {"PATH": images.PATH, "HOSTNAME": hostname, "HOME": "/root"}
        for pair in definition.get("environment") or []:
            env[str(pair["name"])] = str(pair.get("value", ""))
        argv = ["ip", "netns", "exec", ns, "unshare", "-m", "-u", "--propagation", "private"]
        argv += ["sh", "-c", script, "lab-container", *_argv(definition, image)]
        container.memory_mib = definition.get("memory")
        container.cgroup = _make_cgroup(f"lab-{self.ws}-c-{task}-{name}", container.memory_mib)
        if container.cgroup:
            # Into the cgroup before exec, so everything it starts inherits it; written by the first process
            # itself (no preexec_fn: unsafe in a process with threads, and the lab's supervisor has many).
            argv = ["sh", "-c", 'echo $$ > "$1" && shift && exec "$@"', "lab-cgroup", _procs(container.cgroup), *argv]
        with open(container.log, "ab") as log:
            container.process = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if container.cgroup:
            _join_cgroup(container.cgroup, container.process.pid)  # written here too: in it when run_task returns
        # Ports: bridge mode, hostPort 0 → a free port of the instance's ephemeral range.
        for mapping in definition.get("portMappings") or []:
            container_port = int(mapping["containerPort"])
            host_port = int(mapping.get("hostPort") or 0)
            if host_port and host_port in self.busy_ports():
                raise CourseError(
                    f"Container {name!r} cannot get host port {host_port} (task definition field `portMappings`).",
                    "Another container or program on the instance already uses it (Docker: port is already allocated).",
                    "use hostPort 0 (a dynamic port), so several tasks fit on one instance.",
                )
            host_port = host_port or self._free_host_port()
            container.ports[container_port] = host_port
            self._add_dnat(container, container_port, host_port)
        return container

    def _add_dnat(self, container: Container, container_port: int, host_port: int) -> None:
        rules = []
        for chain in ("prerouting", "output"):
            rules.append(
                f"add rule ip {TABLE} {chain} ip daddr {self.instance_address} tcp dport {host_port} "
                f'dnat to {container.address}:{container_port} comment "{container.namespace}"'
            )
        _in(self.instance_ns, "nft", "-f", "-", input="\n".join(rules) + "\n")

    def _remove_dnat(self, container: Container) -> None:
        listing = _in(self.instance_ns, "nft", "-j", "-a", "list", "table", "ip", TABLE, check=False)
        if listing.returncode != 0:
            return
        deletes = []
        for item in json.loads(listing.stdout).get("nftables", []):
            rule = item.get("rule")
            if rule and rule.get("comment") == container.namespace:
                deletes.append(f"delete rule ip {TABLE} {rule['chain']} handle {rule['handle']}")
        if deletes:
            _in(self.instance_ns, "nft", "-f", "-", input="\n".join(deletes) + "\n", check=False)

    def stop(self, container: Container, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, SIGKILL after ``timeout`` s; then remove its rules, netns and cgroup. Returns the exit code."""
        code = None
        if container.process is not None:
            if container.process.poll() is None:
                _signal_group(container.process, signal.SIGTERM)
                try:
                    container.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    _signal_group(container.process, signal.SIGKILL)
                    container.process.wait(10)
            code = container.process.returncode
            _signal_group(container.process, signal.SIGKILL)  # anything its command left behind
        self._remove_dnat(container)
        _run(["ip", "-n", self.instance_ns, "link", "del", container.veth], check=False)
        _run(["ip", "netns", "del", container.namespace], check=False)
        _remove_cgroup(container.cgroup)
        self.containers.pop(container.namespace, None)
        return code

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every container; remove lab_docker and docker0 from the instance namespace."""
        for container in list(self.containers.values()):
            self.stop(container, timeout=timeout)
        _in(self.instance_ns, "nft", "delete", "table", "ip", TABLE, check=False)
        _run(["ip", "-n", self.instance_ns, "link", "del", BRIDGE], check=False)
        self._ready = False


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def port_mappings(instance_ns: str) -> list[dict]:
    """The instance's bridge-mode port mappings as its DNAT rules hold them (for ``lab rules``):
    [{"host_port", "address", "container_port", "container"}], from any process (kernel.run enters the
    sandbox when not root). Empty when the instance runs no container."""
    listing = kernel.run("ip", "netns", "exec", instance_ns, "nft", "-j", "list", "table", "ip", TABLE, check=False)
    found = []
    try:
        items = json.loads(listing.stdout or "{}").get("nftables", []) if listing.returncode == 0 else []
    except ValueError:
        items = []
    for item in items:
        rule = item.get("rule") or {}
        if rule.get("chain") != "prerouting":
            continue
        port = next((e["match"]["right"] for e in rule.get("expr", []) if e.get("match", {}).get("left", {}).get("payload", {}).get("field") == "dport"), None)  # fmt: skip
        dnat = next((e["dnat"] for e in rule.get("expr", []) if "dnat" in e), None)
        if port is not None and dnat:
            found.append({"host_port": port, "address": dnat.get("addr"), "container_port": dnat.get("port"),
                          "container": rule.get("comment", "")})  # fmt: skip
    return sorted(found, key=lambda m: m["host_port"])


def leftover_namespaces(ws: str) -> list[str]:
    """Container namespaces of workspace ``ws`` that still exist (for cleanup and tests)."""
    listing = _run(["ip", "netns", "list"], check=False).stdout
    prefix = f"lab-{ws}-c-"
    return [m.group(1) for m in re.finditer(r"^(\S+)", listing, re.M) if m.group(1).startswith(prefix)]
