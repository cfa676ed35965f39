"""The lab's topology in the kernel (helpers/lab/net/kernel.py): namespaces, bridges, NAT, filters, and nothing out.

The VPC router at the subnet's first address + 1 (https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html);
1:1 NAT of public addresses by the internet gateway (https://docs.aws.amazon.com/vpc/latest/userguide/VPC_Internet_Gateway.html).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import threading

import pytest

from helpers.lab import model
from helpers.lab.net import kernel
from helpers.lab.net.netns import Netns
from helpers.runtime import aws
from tests.support import lab_support as lab

ALL_TCP = [{"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]


@pytest.fixture
def ws():
    lab.require_kernel()
    tag = lab.test_tag()
    try:
        yield tag
    finally:
        kernel.remove_all(tag)
        assert kernel.namespaces(tag) == []


def connect(ns: str, address: str, port: int, timeout: float = 0.5) -> str:
    sock = Netns(ns).socket()
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
        return "reachable"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "blocked"
    except OSError as error:
        return f"unreachable ({error.strerror})"
    finally:
        sock.close()


def listen(ns: str, port: int) -> socket.socket:
    sock = Netns(ns).socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.listen(8)
    return sock


def test_netns_sockets_are_made_in_the_namespace_by_one_short_thread(ws):
    """Netns.sockets: a batch of sockets of one namespace (the lab ALB's pool for its connections),
    made by a thread that ends there; the caller's threads stay in their own namespace."""
    ns = kernel.internet_ns(ws)
    Netns(ns).add()
    own = os.readlink("/proc/thread-self/ns/net")
    before = threading.active_count()
    made = Netns(ns).sockets(socket.AF_INET, socket.SOCK_STREAM, 3)
    try:
        assert len(made) == 3 and threading.active_count() == before
        for n, sock in enumerate(made):
            sock.bind(("0.0.0.0", 18090 + n))
            sock.listen(1)
        inside = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/tcp"], capture_output=True, text=True)
        ports = {int(row.split()[1].rsplit(":", 1)[1], 16) for row in inside.stdout.splitlines()[1:]}
        assert {18090, 18091, 18092} <= ports
        assert {os.readlink(f"/proc/self/task/{t}/ns/net") for t in os.listdir("/proc/self/task")} == {own}
    finally:
        for sock in made:
            sock.close()


def test_topology_connects_hosts_through_the_router_and_the_gateway(emulator_url, ws):
    with lab.small_vpc("10.81.0.0/16") as made:
        open_sg = lab.group(made, "open", ALL_TCP)
        public = lab.instance(made, "subnet_a", [open_sg])
        private = lab.instance(made, "subnet_b", [open_sg])
        lab.load_balancer(made, [open_sg])
        m = model.read().only([made["vpc"]])
        done = kernel.apply(ws, m)
        assert not done.errors
        names = kernel.namespaces(ws)
        assert kernel.internet_ns(ws) in names and kernel.router_ns(ws, made["vpc"]) in names
        for h in m.hosts:
            assert kernel.host_ns(ws, h) in names
            addr = Netns(kernel.host_ns(ws, h)).ip_json("route", "show", "default")
            assert addr[0]["gateway"] == m.subnet(h.subnet_id).gateway  # the VPC router: first address + 1
        assert len(names) == 2 + len(m.hosts)

        pub, priv = m.host(public["InstanceId"]), m.host(private["InstanceId"])
        server = listen(kernel.host_ns(ws, priv), 8080)
        server_pub = listen(kernel.host_ns(ws, pub), 8080)
        try:
            # across subnets, through the router
            assert connect(kernel.host_ns(ws, pub), priv.private_ip, 8080) == "reachable"
            # from the internet to the public address (DNAT), and the client's address is what arrives
            assert connect(kernel.internet_ns(ws), pub.public_ip, 8080) == "reachable"
            conn, peer = server_pub.accept()
            conn.close()
            assert peer[0] == model.CLIENT_ADDRESS
            # a host without a public address is not on the internet at all
            assert connect(kernel.internet_ns(ws), priv.private_ip, 8080).startswith("unreachable")
            for node in (h for h in m.hosts if h.role == "alb"):
                assert connect(kernel.internet_ns(ws), node.public_ip, 9) == "refused"  # reached, nothing listens
        finally:
            server.close()
            server_pub.close()

        assert kernel.apply(ws, m).created == []  # idempotent
        aws.client("ec2").terminate_instances(InstanceIds=[private["InstanceId"]])
        smaller = model.read().only([made["vpc"]])
        assert kernel.apply(ws, smaller).removed == [kernel.host_ns(ws, priv)]
        assert kernel.host_ns(ws, priv) not in kernel.namespaces(ws)


def test_security_groups_are_enforced_in_the_host_namespace(emulator_url, ws):
    with lab.small_vpc("10.82.0.0/16") as made:
        web = lab.group(
            made, "web", [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        )
        client = lab.group(made, "client")
        target = lab.instance(made, "subnet_a", [web])
        source = lab.instance(made, "subnet_b", [client])
        m = model.read().only([made["vpc"]])
        kernel.apply(ws, m)
        t, s = m.host(target["InstanceId"]), m.host(source["InstanceId"])
        servers = [listen(kernel.host_ns(ws, t), p) for p in (80, 81)]
        try:
            assert connect(kernel.host_ns(ws, s), t.private_ip, 80) == "reachable"
            assert connect(kernel.host_ns(ws, s), t.private_ip, 81, timeout=0.3) == "blocked"  # dropped: a timeout
            assert connect(kernel.internet_ns(ws), t.public_ip, 80) == "reachable"
        finally:
            for server in servers:
                server.close()


def test_prefix_list_rule_drops_everything_and_says_why(emulator_url, ws):
    with lab.small_vpc("10.83.0.0/16") as made:
        gid = lab.group(made, "pl")
        lab.instance(made, "subnet_a", [gid])
        m = model.read().only([made["vpc"]])
        group = m.group(gid)
        bad = model.Permission("tcp", 443, 443, prefix_lists=("pl-0123",))
        m = model.Model(
            m.vpcs, m.subnets, (model.SecurityGroup(gid, group.name, group.vpc_id, (bad,), group.egress),), m.hosts
        )
        done = kernel.apply(ws, m)
        (host,) = m.hosts
        assert "prefix list" in done.errors[host.id]
        rules = Netns(kernel.host_ns(ws, host)).run("nft", "list", "table", "inet", "lab_sg").stdout
        assert "a rule the lab cannot express" in rules


def _real_address() -> str | None:
    """The host's own address on its real default route (read only, nothing is sent)."""
    routes = json.loads(
        subprocess.run(["ip", "-j", "route", "get", "192.0.2.1"], capture_output=True, text=True).stdout or "[]"
    )
    return routes[0].get("prefsrc") if routes else None


def test_nothing_in_the_lab_reaches_the_host(emulator_url, ws):
    """No route outside lab addresses, no interface but lab ones, no connection to the host's real address or loopback."""
    with lab.small_vpc("10.84.0.0/16") as made:
        open_sg = lab.group(made, "open", ALL_TCP)
        lab.instance(made, "subnet_a", [open_sg])
        lab.load_balancer(made, [open_sg])
        m = model.read().only([made["vpc"]])
        kernel.apply(ws, m)
        allowed = [*kernel.lab_addresses(m), ipaddress.ip_network("fe80::/64")]  # IPv6 link-local: on-link only
        root_listener = socket.socket()
        root_listener.bind(("127.0.0.1", 0))
        root_listener.listen(1)
        port = root_listener.getsockname()[1]
        real = _real_address()
        try:
            for ns in kernel.namespaces(ws):
                for link in Netns(ns).ip_json("link", "show"):
                    name = link["ifname"]
                    assert name in ("lo", "eth0", "igw0") or name[0] in "bhg" and len(name) == 11, (ns, name)
                    assert link.get("link_netnsid") is None or name != "lo"
                for route in Netns(ns).ip_json("route", "show") + Netns(ns).ip_json("-6", "route", "show"):
                    dst = route["dst"]
                    if dst == "default":
                        assert route["gateway"] in {kernel.IGW_INTERNET} | {s.gateway for s in m.subnets}, (ns, route)
                        continue
                    net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
                    assert any(net.version == a.version and net.subnet_of(a) for a in allowed), (ns, route)
                assert connect(ns, "127.0.0.1", port, timeout=0.3) != "reachable", ns
                if real:
                    assert connect(ns, real, 22, timeout=0.3) != "reachable", ns
            # and the host's own namespace got no route to the lab
            own = json.loads(subprocess.run(["ip", "-j", "route", "show"], capture_output=True, text=True).stdout)
            assert not any(r["dst"].startswith(("10.84.", "203.0.113.", "169.254.0.")) for r in own)
        finally:
            root_listener.close()


def test_remove_all_leaves_no_namespace(emulator_url):
    lab.require_kernel()
    tag = lab.test_tag()
    with lab.small_vpc("10.85.0.0/16") as made:
        lab.instance(made, "subnet_a", [lab.group(made, "g")])
        try:
            kernel.apply(tag, model.read().only([made["vpc"]]))
            assert kernel.namespaces(tag)
        finally:
            kernel.remove_all(tag)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"lab-{tag}-" not in listed
