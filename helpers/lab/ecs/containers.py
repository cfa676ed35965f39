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
its image's files (helpers/lab/ecs/images.py: the nginx image's /etc/nginx...), a private
/tmp, and an /etc/hosts holding its ``links`` (linked container's address, alias and
name, as Docker's legacy links write it: https://docs.docker.com/engine/network/links/).
It gets the container definition's ``entryPoint`` + ``command`` (an ``entryPoint`` replaces
the image's and drops its default command, as in Docker) and ``environment``; its
stdout and stderr go to ``<workspace>/lab/logs/<task>-<container>.log``.
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html

``memory`` (MiB) is a hard limit in a memory cgroup (helpers/lab/ecs/cgroups.py; ``cgroups.memory_limits()``
says how, or why it is not applied). A container's first process writes itself into its cgroup's
``cgroup.procs`` before it execs (no ``preexec_fn``: unsafe in a process with threads), and the runtime
writes it too, so it is in the cgroup when ``run_task`` returns.

Every command and process in a namespace goes through its ``Netns`` (helpers/lab/net/netns.py).

Stopping a container: SIGTERM, then SIGKILL after ``stop_timeout`` seconds (ECS's
ECS_CONTAINER_STOP_TIMEOUT, 30 s by default), then its netns, veth, rules and cgroup go.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ... import workspace
from ...errors import CourseError
from ..net import kernel, netns
from ..net.netns import Netns
from . import cgroups, images

BRIDGE = "docker0"
BRIDGE_ADDRESS = "172.17.0.1"
BRIDGE_PREFIX = 16
SUBNET = "172.17.0.0/16"
TABLE = "lab_docker"
STOP_TIMEOUT = 30.0  # ECS_CONTAINER_STOP_TIMEOUT's default


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
        self.instance = Netns(instance_ns)
        self.instance_address = instance_address
        self.ws = ws or kernel.tag()
        self.workdir = Path(workdir or workspace.path("lab"))
        self.containers: dict[str, Container] = {}  # namespace -> Container
        self._last_port = 0
        self._ready = False

    # -- the instance side --------------------------------------------------

    def ensure(self) -> None:
        """docker0, forwarding and the lab_docker table in the instance namespace (idempotent)."""
        if self._ready:
            return
        if not any(link.get("ifname") == BRIDGE for link in self.instance.ip_json("link", "show")):
            self.instance.ip("link", "add", BRIDGE, "type", "bridge")
            self.instance.ip("addr", "add", f"{BRIDGE_ADDRESS}/{BRIDGE_PREFIX}", "dev", BRIDGE)
        self.instance.ip("link", "set", BRIDGE, "up")
        self.instance.sysctl("net.ipv4.ip_forward", "1")
        if self.instance.run("nft", "list", "table", "ip", TABLE, check=False).returncode != 0:
            self.instance.nft(f"""table ip {TABLE} {{
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
  chain output {{ type nat hook output priority -100; policy accept; }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {SUBNET} oifname != "{BRIDGE}" masquerade
  }}
}}
""")
        self._ready = True

    def port_range(self) -> tuple[int, int]:
        """The instance namespace's own ip_local_port_range, read inside it."""
        text = self.instance.run("cat", "/proc/sys/net/ipv4/ip_local_port_range").stdout.split()
        return int(text[0]), int(text[1])

    def busy_ports(self) -> set[int]:
        """Host ports in use on the instance: mapped by a container, or listening in its namespace."""
        busy = {port for c in self.containers.values() for port in c.ports.values()}
        listing = self.instance.run("cat", "/proc/net/tcp", "/proc/net/tcp6", check=False).stdout
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
        net = Netns(ns)
        net.add()
        self.instance.ip("link", "add", veth, "type", "veth", "peer", "name", peer)
        self.instance.ip("link", "set", peer, "netns", ns)
        net.ip("link", "set", peer, "name", "eth0")
        net.ip("addr", "add", f"{container.address}/{BRIDGE_PREFIX}", "dev", "eth0")
        net.ip("link", "set", "eth0", "up")
        net.ip("link", "set", "lo", "up")
        net.ip("route", "add", "default", "via", BRIDGE_ADDRESS)
        self.instance.ip("link", "set", veth, "master", BRIDGE, "up")
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
        argv = net.inside(["unshare", "-m", "-u", "--propagation", "private", "sh", "-c", script, "lab-container"])
        argv += _argv(definition, image)
        container.memory_mib = definition.get("memory")
        container.cgroup = cgroups.make(f"lab-{self.ws}-c-{task}-{name}", container.memory_mib)
        if container.cgroup:
            # Into the cgroup before exec, so everything it starts inherits it; written by the first process
            # itself (no preexec_fn: unsafe in a process with threads, and the lab's supervisor has many).
            join = ["sh", "-c", 'echo $$ > "$1" && shift && exec "$@"', "lab-cgroup", cgroups.procs(container.cgroup)]
            argv = [*join, *argv]
        with open(container.log, "ab") as log:
            container.process = subprocess.Popen(
                netns.command(argv),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if container.cgroup:
            cgroups.join(container.cgroup, container.process.pid)  # written here too: in it when run_task returns
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
        self.instance.nft("\n".join(rules) + "\n")

    def _remove_dnat(self, container: Container) -> None:
        deletes = []
        for item in self.instance.nft_json("-a", "list", "table", "ip", TABLE):
            rule = item.get("rule")
            if rule and rule.get("comment") == container.namespace:
                deletes.append(f"delete rule ip {TABLE} {rule['chain']} handle {rule['handle']}")
        if deletes:
            self.instance.nft("\n".join(deletes) + "\n", check=False)

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
        self.instance.ip("link", "del", container.veth, check=False)
        Netns(container.namespace).delete()
        cgroups.remove(container.cgroup)
        self.containers.pop(container.namespace, None)
        return code

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every container; remove lab_docker and docker0 from the instance namespace."""
        for container in list(self.containers.values()):
            self.stop(container, timeout=timeout)
        self.instance.run("nft", "delete", "table", "ip", TABLE, check=False)
        self.instance.ip("link", "del", BRIDGE, check=False)
        self._ready = False


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def port_mappings(instance_ns: str) -> list[dict]:
    """The instance's bridge-mode port mappings as its DNAT rules hold them (for ``lab rules``):
    [{"host_port", "address", "container_port", "container"}], from any process (the lab's runner enters
    the sandbox when rootless). Empty when the instance runs no container."""
    found = []
    for item in Netns(instance_ns).nft_json("list", "table", "ip", TABLE):
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
    return netns.names(f"lab-{ws}-c-")
