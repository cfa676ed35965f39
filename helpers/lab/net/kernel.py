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

Network safety: every link is created directly inside lab namespaces (``Netns.ip("link", "add", …,
"netns", OTHER)``, helpers/lab/net/netns.py), never in the host's own namespace, and nothing links to its
real interfaces.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from ... import workspace
from ...errors import CourseError
from ..model import CLIENT_ADDRESS, Host, Model
from . import filters, netns
from .netns import Netns

IGW_ROUTER = "169.254.0.2"  # the router's end of each internet-gateway link (a /30)
IGW_INTERNET = "169.254.0.1"  # the internet's end (the same address on every link, routes name the link)


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


# ---------------------------------------------------------------- namespaces


def namespaces(ws: str) -> list[str]:
    """The lab namespaces of workspace tag ``ws`` that exist now."""
    return netns.names(f"lab-{ws}-")


def _ensure_ns(name: str) -> bool:
    """Create the namespace with lo up; True when it was created."""
    ns = Netns(name)
    if ns.exists():
        return False
    ns.add(lo_up=True)
    return True


def delete_ns(name: str) -> None:
    """Stop the processes inside, then delete the namespace (its interfaces go with it)."""
    ns = Netns(name)
    ns.stop_processes()
    ns.delete()


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
        Netns(internet).ip("addr", "add", f"{CLIENT_ADDRESS}/32", "dev", "lo")
    for vpc in vpcs:
        _apply_router(ws, model, vpc, done)
    for host in model.hosts:
        _apply_host(ws, model, host, done)
    _apply_internet_routes(ws, model)
    return done


def _apply_router(ws: str, model: Model, vpc: str, done: Applied) -> None:
    router = Netns(router_ns(ws, vpc))
    if _ensure_ns(router.name):
        done.created.append(router.name)
        router.sysctl("net.ipv4.ip_forward", "1")
        router.ip("link", "add", "igw0", "type", "veth", "peer", "name", igw_link(vpc), "netns", internet_ns(ws))
        router.ip("addr", "add", f"{IGW_ROUTER}/30", "dev", "igw0")
        router.ip("link", "set", "igw0", "up")
        router.ip("route", "add", "default", "via", IGW_INTERNET, "dev", "igw0")
        internet = Netns(internet_ns(ws))
        internet.ip("addr", "add", f"{IGW_INTERNET}/32", "dev", igw_link(vpc))
        internet.ip("link", "set", igw_link(vpc), "up")
    subnets = [s for s in model.subnets if s.vpc_id == vpc]
    wanted = {bridge_name(s.id, s.cidr) for s in subnets}
    links = {link["ifname"]: link for link in router.ip_json("link", "show")}
    for name in links:
        if name.startswith("b") and name not in wanted:
            router.ip("link", "delete", name, check=False)
    for s in subnets:
        name = bridge_name(s.id, s.cidr)
        if name not in links:
            router.ip("link", "add", name, "type", "bridge")
            router.ip("addr", "add", f"{s.gateway}/{s.prefixlen}", "dev", name)
            router.ip("link", "set", name, "up")
    public = [h for h in model.hosts if h.vpc_id == vpc and h.public_ip]
    router.nft(nat_rules(public))


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
    ns = Netns(host_ns(ws, host))
    subnet = model.subnet(host.subnet_id)
    router = Netns(router_ns(ws, host.vpc_id))
    link = host_link(host)
    if ns.exists() and not _host_matches(ns, host, subnet.prefixlen, router, link):
        delete_ns(ns.name)  # moved to another subnet or address: rebuilt
        done.removed.append(ns.name)
    created = _ensure_ns(ns.name)
    _filter_host(ns, model, host, done)  # the filter first: a new interface is never up without its groups
    if created:
        done.created.append(ns.name)
        router.ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns.name)
        router.ip("link", "set", link, "master", bridge_name(subnet.id, subnet.cidr), "up")
        ns.ip("addr", "add", f"{host.private_ip}/{subnet.prefixlen}", "dev", "eth0")
        ns.ip("link", "set", "eth0", "up")
        ns.ip("route", "add", "default", "via", subnet.gateway, "dev", "eth0")
        if host.role == "ec2":  # containers on the agent's docker0 are routed out of eth0, as on an ECS instance
            ns.sysctl("net.ipv4.ip_forward", "1")


def refilter(ws: str, model: Model, hosts: list[Host]) -> Applied:
    """Compile again the filters of these hosts only (their namespaces and links are as ``model`` says: the
    caller compared ``model.topology()`` with the one applied)."""
    done = Applied()
    for host in hosts:
        _filter_host(Netns(host_ns(ws, host)), model, host, done)
    return done


def _filter_host(ns: Netns, model: Model, host: Host, done: Applied) -> None:
    try:
        text = filters.ruleset(model, host)
    except CourseError as error:
        text = drop_all(host)
        done.errors[host.id] = error.render()
    ns.nft(text)


def _host_matches(ns: Netns, host: Host, prefixlen: int, router: Netns, link: str) -> bool:
    addresses = {
        (a["local"], a["prefixlen"]) for i in ns.ip_json("addr", "show", "dev", "eth0") for a in i.get("addr_info", [])
    }
    return (host.private_ip, prefixlen) in addresses and bool(router.ip_json("link", "show", "dev", link))


def _apply_internet_routes(ws: str, model: Model) -> None:
    internet = Netns(internet_ns(ws))
    wanted = {f"{h.public_ip}": igw_link(h.vpc_id) for h in model.hosts if h.public_ip}
    for route in internet.ip_json("route", "show"):
        dst = route.get("dst", "")
        if dst not in wanted or route.get("dev") != wanted[dst]:
            internet.ip("route", "delete", dst, check=False)
    for address, link in wanted.items():
        internet.ip(
            "route", "replace", f"{address}/32", "via", IGW_ROUTER, "dev", link, "onlink", "src", CLIENT_ADDRESS
        )


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
