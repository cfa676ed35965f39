"""The lab's topology in the kernel: network namespaces, veth pairs, bridges, routes, NAT, filters.

    kernel.apply(ws, model)      make the kernel match the model (adds what is missing, removes what is gone)
    kernel.remove_all(ws)        delete every namespace (and its links, rules, processes) the lab made

For each VPC a router namespace ``lab-<ws>-router-<vpc>`` holds one bridge per subnet (its address:
the subnet's first address + 1, the VPC router as AWS reserves it,
https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html) and the internet gateway
link ``igw0``, with 1:1 NAT for the hosts that have a public address (DNAT public → private in,
SNAT private → public out, as an internet gateway does,
https://docs.aws.amazon.com/vpc/latest/userguide/VPC_Internet_Gateway.html); a host without one
cannot reach the internet. Each host (instance interface, ALB node) gets ``lab-<ws>-<role>-<id>``
with ``eth0`` on its subnet's bridge, its private address, the default route to the router, and
its security groups as nftables (filters.py). ``lab-<ws>-internet`` holds the learner's client
(``model.CLIENT_ADDRESS``) and routes to every public address.

Network safety: every link is created directly inside lab namespaces (``ip -n NS link add …
netns OTHER``), never in the host's own namespace, and nothing links to its real interfaces.
"""

from __future__ import annotations

import ctypes
import hashlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import workspace
from ..errors import CourseError
from ..runtime import processes
from . import filters, sandbox
from .model import CLIENT_ADDRESS, Host, Model

NETNS_DIR = Path("/run/netns")  # where ip netns pins namespaces (inside the sandbox when not root: netns_dir())
IGW_ROUTER = "169.254.0.2"  # the router's end of each internet-gateway link (a /30)
IGW_INTERNET = "169.254.0.1"  # the internet's end (the same address on every link, routes name the link)
COMMAND_TIMEOUT = 20  # seconds for one ip/nft command
CLONE_NEWNET = 0x40000000


# ---------------------------------------------------------------- names


def tag(path: Path | None = None) -> str:
    """<ws>: the first 6 hex characters of sha1 of the workspace path."""
    return hashlib.sha1(str(path or workspace.root()).encode()).hexdigest()[:6]


def ns_name(ws: str, role: str, ident: str | None = None) -> str:
    return f"lab-{ws}-{role}" + (f"-{ident}" if ident else "")


def host_ns(ws: str, host: Host) -> str:
    return ns_name(ws, host.role, host.id)


def router_ns(ws: str, vpc_id: str) -> str:
    return ns_name(ws, "router", vpc_id)


def internet_ns(ws: str) -> str:
    return ns_name(ws, "internet")


def ifname(prefix: str, *parts: str) -> str:
    """A stable interface name of at most 15 characters."""
    return prefix + hashlib.sha1(" ".join(parts).encode()).hexdigest()[:10]


def bridge_name(subnet_id: str, cidr: str) -> str:
    return ifname("b", subnet_id, cidr)


def host_link(host: Host) -> str:
    """The router's end of the host's veth (the host's end is always eth0)."""
    return ifname("h", host.id, host.subnet_id, host.private_ip)


def igw_link(vpc_id: str) -> str:
    """The internet namespace's end of a VPC's gateway link (the router's end is igw0)."""
    return ifname("g", vpc_id)


# ---------------------------------------------------------------- commands


def run(*argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """One ip/nft command (bounded in time; in the sandbox when not root); a failure as a CourseError naming it."""
    full = sandbox.command(argv) if sandbox.needed() else list(argv)
    proc = subprocess.run(full, input=input, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if check and proc.returncode:
        raise CourseError(
            f"The lab's kernel command failed: {' '.join(argv)}",
            proc.stderr.strip() or f"exit status {proc.returncode}",
            "run `python -m helpers lab status` to see whether the lab can run here; `lab down` removes it all.",
            detail=input or "",
        )
    return proc


def ip_json(ns: str, *argv: str) -> list:
    proc = run("ip", "-n", ns, "-j", *argv, check=False)
    try:
        return json.loads(proc.stdout or "[]")
    except ValueError:
        return []


def namespaces(ws: str) -> list[str]:
    """The lab namespaces of workspace tag ``ws`` that exist now."""
    prefix = f"lab-{ws}-"
    try:
        return sorted(p.name for p in netns_dir().iterdir() if p.name.startswith(prefix))
    except (FileNotFoundError, PermissionError):
        return []


def netns_dir() -> Path:
    """NETNS_DIR as this process can read it: through the sandbox's mount namespace when not root."""
    return sandbox.path(str(NETNS_DIR)) if sandbox.needed() else NETNS_DIR


def exists(name: str) -> bool:
    return (netns_dir() / name).exists()


def add_ns(name: str) -> None:
    """Create network namespace ``name`` (pinned in NETNS_DIR, as ip netns add does).

    In a user namespace (the sandbox) ``ip netns add`` fails at its very end, switching back to a
    network namespace the sandbox does not own; ``unshare --net=FILE`` pins it the same way without.
    """
    if sandbox.inside():
        run("touch", str(NETNS_DIR / name))
        run("unshare", f"--net={NETNS_DIR / name}", "true")
    else:
        run("ip", "netns", "add", name)


def _ensure_ns(name: str) -> bool:
    """Create the namespace with lo up; True when it was created."""
    if exists(name):
        return False
    add_ns(name)
    run("ip", "-n", name, "link", "set", "lo", "up")
    return True


def delete_ns(name: str) -> None:
    """Stop the processes inside, then delete the namespace (its interfaces go with it)."""
    stop_processes(name)
    run("ip", "netns", "delete", name, check=False)


def stop_processes(name: str, grace: float = 2.0) -> None:
    """SIGTERM every process in the namespace, SIGKILL what is left after ``grace`` seconds."""
    pids = [int(p) for p in run("ip", "netns", "pids", name, check=False).stdout.split()]
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


def sysctl(ns: str, key: str, value: str) -> None:
    run("ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}")


def nft(ns: str, text: str) -> None:
    run("ip", "netns", "exec", ns, "nft", "-f", "-", input=text)


# ---------------------------------------------------------------- sockets inside a namespace


def socket_in(ns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket that lives in namespace ``ns`` (it stays there whatever thread or process uses it).

    Made in a thread of its own that enters ``ns`` and ends there: in the sandbox a thread could not
    go back to the host's namespace (the real root owns it), and the caller's threads never move into
    a lab namespace. Not root and outside the sandbox: made by a short process inside it (sandbox.socket_in).
    """
    return sockets_in(ns, family, kind, 1)[0]


def sockets_in(ns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM, count: int = 1) -> list:
    """``count`` sockets of namespace ``ns``, made by one thread's visit (socket_in, for a pool of them)."""
    if sandbox.needed():
        if not exists(ns):
            raise _no_namespace(ns)
        return [sandbox.socket_in(str(NETNS_DIR / ns), family, kind) for _ in range(count)]
    made: dict = {"sockets": []}

    def make() -> None:
        try:
            target = os.open(NETNS_DIR / ns, os.O_RDONLY)
        except FileNotFoundError:
            made["error"] = _no_namespace(ns)
            return
        try:
            if ctypes.CDLL(None, use_errno=True).setns(target, CLONE_NEWNET) != 0:
                made["error"] = OSError(
                    ctypes.get_errno(), f"setns into {ns} failed (the lab needs root or its sandbox)"
                )
                return
            made["sockets"] = [socket.socket(family, kind) for _ in range(count)]
        finally:
            os.close(target)

    thread = threading.Thread(target=make, name=f"socket-in-{ns}")
    thread.start()
    thread.join()
    if "error" in made:
        raise made["error"]
    return made["sockets"]


def _no_namespace(ns: str) -> CourseError:
    return CourseError(
        f"The lab namespace {ns} does not exist.",
        "The lab is not up, or this host is not part of it (any more).",
        "run `python -m helpers lab up`, then `python -m helpers lab status`.",
    )


# ---------------------------------------------------------------- apply


@dataclass
class Applied:
    """What apply() did: namespaces made and removed, and the hosts it could not filter (why)."""

    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # host id → the CourseError's text


def drop_all(host: Host) -> str:
    """A host whose rules the lab cannot express: nothing passes (never silently allow)."""
    return (
        f"table inet {filters.TABLE}\ndelete table inet {filters.TABLE}\n"
        f"table inet {filters.TABLE} {{\n"
        f'  chain ingress {{ type filter hook prerouting priority -150; policy accept; iifname != "eth0" accept; drop comment "{host.id}: a rule the lab cannot express"; }}\n'
        f'  chain egress {{ type filter hook output priority -150; policy accept; oifname != "eth0" accept; drop; }}\n'
        f'  chain forward {{ type filter hook forward priority -150; policy accept; oifname != "eth0" accept; drop; }}\n'
        "}\n"
    )


def apply(ws: str, model: Model) -> Applied:
    """Make the kernel match ``model``: idempotent; only the VPCs that have hosts get a router."""
    done = Applied()
    vpcs = sorted({h.vpc_id for h in model.hosts})
    wanted = {internet_ns(ws)} | {router_ns(ws, v) for v in vpcs} | {host_ns(ws, h) for h in model.hosts}
    for name in namespaces(ws):
        if name not in wanted and not name.startswith(f"lab-{ws}-c-"):  # containers belong to the agent
            delete_ns(name)
            done.removed.append(name)
    internet = internet_ns(ws)
    if _ensure_ns(internet):
        done.created.append(internet)
        run("ip", "-n", internet, "addr", "add", f"{CLIENT_ADDRESS}/32", "dev", "lo")
    for vpc in vpcs:
        _apply_router(ws, model, vpc, done)
    for host in model.hosts:
        _apply_host(ws, model, host, done)
    _apply_internet_routes(ws, model)
    return done


def _apply_router(ws: str, model: Model, vpc: str, done: Applied) -> None:
    router = router_ns(ws, vpc)
    if _ensure_ns(router):
        done.created.append(router)
        sysctl(router, "net.ipv4.ip_forward", "1")
        run("ip", "-n", router, "link", "add", "igw0", "type", "veth", "peer", "name", igw_link(vpc),
            "netns", internet_ns(ws))  # fmt: skip
        run("ip", "-n", router, "addr", "add", f"{IGW_ROUTER}/30", "dev", "igw0")
        run("ip", "-n", router, "link", "set", "igw0", "up")
        run("ip", "-n", router, "route", "add", "default", "via", IGW_INTERNET, "dev", "igw0")
        internet = internet_ns(ws)
        run("ip", "-n", internet, "addr", "add", f"{IGW_INTERNET}/32", "dev", igw_link(vpc))
        run("ip", "-n", internet, "link", "set", igw_link(vpc), "up")
    subnets = [s for s in model.subnets if s.vpc_id == vpc]
    wanted = {bridge_name(s.id, s.cidr) for s in subnets}
    links = {link["ifname"]: link for link in ip_json(router, "link", "show")}
    for name in links:
        if name.startswith("b") and name not in wanted:
            run("ip", "-n", router, "link", "delete", name, check=False)
    for s in subnets:
        name = bridge_name(s.id, s.cidr)
        if name not in links:
            run("ip", "-n", router, "link", "add", name, "type", "bridge")
            run("ip", "-n", router, "addr", "add", f"{s.gateway}/{s.prefixlen}", "dev", name)
            run("ip", "-n", router, "link", "set", name, "up")
    public = [h for h in model.hosts if h.vpc_id == vpc and h.public_ip]
    nft(router, nat_rules(public))


def nat_rules(public: list[Host]) -> str:
    """The router's 1:1 NAT (table ip lab_nat): only hosts with a public address reach the internet."""
    dnat = [f"    ip daddr {h.public_ip} dnat to {h.private_ip}" for h in public]
    snat = [f'    oifname "igw0" ip saddr {h.private_ip} snat to {h.public_ip}' for h in public]
    allowed = ", ".join(h.private_ip for h in public)
    forward = f'    oifname "igw0" ip saddr != {{ {allowed} }} drop' if public else '    oifname "igw0" drop'
    return "\n".join(
        [
            "table ip lab_nat",
            "delete table ip lab_nat",
            "table ip lab_nat {",
            "  chain prerouting {",
            "    type nat hook prerouting priority dstnat; policy accept;",
            *dnat,
            "  }",
            "  chain postrouting {",
            "    type nat hook postrouting priority srcnat; policy accept;",
            *snat,
            "  }",
            "  chain forward {",
            "    type filter hook forward priority 0; policy accept;",
            forward + ' comment "no public address: no internet (the gateway has nothing to translate)"',
            "  }",
            "}",
            "",
        ]
    )


def _apply_host(ws: str, model: Model, host: Host, done: Applied) -> None:
    ns = host_ns(ws, host)
    subnet = model.subnet(host.subnet_id)
    router = router_ns(ws, host.vpc_id)
    link = host_link(host)
    if exists(ns) and not _host_matches(ns, host, subnet.prefixlen, router, link):
        delete_ns(ns)  # moved to another subnet or address: rebuilt
        done.removed.append(ns)
    created = _ensure_ns(ns)
    try:  # the filter first: a new interface is never up without its groups
        text = filters.ruleset(model, host)
    except CourseError as error:
        text = drop_all(host)
        done.errors[host.id] = error.render()
    nft(ns, text)
    if created:
        done.created.append(ns)
        run("ip", "-n", router, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "-n", router, "link", "set", link, "master", bridge_name(subnet.id, subnet.cidr), "up")
        run("ip", "-n", ns, "addr", "add", f"{host.private_ip}/{subnet.prefixlen}", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "route", "add", "default", "via", subnet.gateway, "dev", "eth0")
        if host.role == "ec2":  # containers on the agent's docker0 are routed out of eth0, as on an ECS instance
            sysctl(ns, "net.ipv4.ip_forward", "1")


def _host_matches(ns: str, host: Host, prefixlen: int, router: str, link: str) -> bool:
    addresses = {
        (a["local"], a["prefixlen"]) for i in ip_json(ns, "addr", "show", "dev", "eth0") for a in i.get("addr_info", [])
    }
    return (host.private_ip, prefixlen) in addresses and bool(ip_json(router, "link", "show", "dev", link))


def _apply_internet_routes(ws: str, model: Model) -> None:
    internet = internet_ns(ws)
    wanted = {f"{h.public_ip}": igw_link(h.vpc_id) for h in model.hosts if h.public_ip}
    for route in ip_json(internet, "route", "show"):
        dst = route.get("dst", "")
        if dst not in wanted or route.get("dev") != wanted[dst]:
            run("ip", "-n", internet, "route", "delete", dst, check=False)
    for address, link in wanted.items():
        run("ip", "-n", internet, "route", "replace", f"{address}/32", "via", IGW_ROUTER, "dev", link, "onlink",
            "src", CLIENT_ADDRESS)  # fmt: skip


def remove_all(ws: str) -> list[str]:
    """Delete every namespace of the lab ``ws`` (containers first): links, rules and processes go with them."""
    names = namespaces(ws)
    for name in sorted(names, key=lambda n: not n.startswith(f"lab-{ws}-c-")):
        delete_ns(name)
    return names


def lab_addresses(model: Model) -> list:
    """Every network the lab's routes may name (the safety test checks routes against it)."""
    nets = [ipaddress.ip_network(s.cidr) for s in model.subnets]
    nets += [ipaddress.ip_network(f"{h.public_ip}/32") for h in model.hosts if h.public_ip]
    nets += [ipaddress.ip_network(f"{IGW_ROUTER}/30", strict=False), ipaddress.ip_network(f"{CLIENT_ADDRESS}/32")]
    return nets
