"""The lab run by an ordinary user (helpers/lab/net/sandbox.py), from tests/lab/test_rootless.py.

    python -m tests.support.rootless_support VPC INSTANCE ALB_DNS_NAME
    python -m tests.support.rootless_support containers NAMESPACE ADDRESS WS   (inside the sandbox)

Run as an unprivileged user (the test drops root with setpriv) in a workspace that user owns. It
brings the lab up on the given VPC, probes the instance, serves HTTP on it, sends requests through the
load balancer, takes the lab down, and prints what it saw as one JSON object. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.lab import model
from helpers.lab.control import commands as control
from helpers.lab.net import kernel, sandbox
from helpers.lab.net.netns import Netns
from helpers.lab.net.probe import probe
from tests.support.waiting import wait_until

SERVE_SECONDS = 60  # the instance's HTTP server ends by itself, whatever happens


def main(vpc: str, instance: str, alb_dns: str) -> dict:
    seen: dict = {"uid": os.getuid(), "ws": kernel.tag()}
    info = control.up(vpcs=[vpc], quiet=True)
    ws = seen["ws"]
    try:
        seen["mode"] = info["mode"]
        seen["hosts"] = sorted(h["role"] for h in info["hosts"])
        seen["keeper"] = sandbox.keeper()
        seen["namespaces"] = info["namespaces"]
        seen["in_host_run_netns"] = sorted(p.name for p in Path("/run/netns").glob(f"lab-{ws}-*"))
        m = model.read().only([vpc])
        seen["escapes"] = escapes(ws, m)
        seen["probe_8080"] = probe(m, "internet", instance, 8080, ws=ws, timeout=0.5)
        seen["probe_8081"] = probe(m, "internet", instance, 8081, ws=ws, timeout=0.5)
        host = m.host(instance)
        serve = ["timeout", str(SERVE_SECONDS), sys.executable, "-m", "http.server", "8080", "--bind", host.private_ip]
        serve += ["--directory", str(Path(__file__).parent)]
        server = Netns(kernel.host_ns(ws, host)).popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            replies = []

            def ask():
                reply = control.curl(f"http://{alb_dns}/rootless_support.py", timeout=5)
                replies.append(reply.status)
                return reply

            reply = wait_until(
                ask, until=lambda r: r.status == 200, within=30, what="a 200 from the ALB", every=0.5, otherwise=None
            )
            if reply is not None:
                seen["body_names_this_file"] = "rootless_support" in reply.text
            seen["alb_statuses"] = replies
            seen["rules_listing"] = "tcp port 8080 from 0.0.0.0/0" in control.rules(instance)
            seen["exec"] = lab_exec(["--from", instance, "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0"])
            seen["exec"]["instance_address"] = host.private_ip
            seen["exec_curl"] = lab_exec(
                ["--", "curl", "-s", "--max-time", "10", f"http://{alb_dns}/rootless_support.py"]
            )
            inside = [sys.executable, "-m", "tests.support.rootless_support", "containers"]
            inside += [kernel.host_ns(ws, host), host.private_ip, ws]
            ran = subprocess.run(sandbox.command(inside), capture_output=True, text=True, timeout=90)
            seen["containers"] = json.loads(ran.stdout.strip().splitlines()[-1]) if ran.returncode == 0 else ran.stderr
        finally:
            server.kill()
            server.wait(10)
    finally:
        seen["removed"] = sorted(control.down())
    seen["after_down"] = {
        "running": control.status()["running"],
        "keeper": sandbox.keeper(),
        "keeper_process": bool(seen["keeper"]) and Path(f"/proc/{seen['keeper']}").exists(),
    }
    return seen


def lab_exec(args: list[str]) -> dict:
    """`python -m helpers lab exec ARGS` as this (unprivileged) user types it: its exit status and output."""
    done = subprocess.run([sys.executable, "-m", "helpers", "lab", "exec", *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    return {"code": done.returncode, "out": done.stdout[-4000:], "err": done.stderr[-2000:]}


def escapes(ws: str, m) -> list:
    """Any way out of the lab: a link that is not the lab's, a route beyond lab addresses, or a connection
    from a lab namespace to a listener on the host's loopback (it must fail: not "reachable")."""
    import ipaddress
    import socket

    allowed = [*kernel.lab_addresses(m), ipaddress.ip_network("fe80::/64")]
    found = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        for ns in kernel.namespaces(ws):
            for link in Netns(ns).ip_json("link", "show"):
                if not (
                    link["ifname"] in ("lo", "eth0", "igw0") or link["ifname"][0] in "bhg" and len(link["ifname"]) == 11
                ):
                    found.append((ns, "link", link["ifname"]))
            for route in Netns(ns).ip_json("route", "show") + Netns(ns).ip_json("-6", "route", "show"):
                if route["dst"] == "default":
                    if route.get("gateway") not in {kernel.IGW_INTERNET} | {s.gateway for s in m.subnets}:
                        found.append((ns, "route", route))
                    continue
                net = ipaddress.ip_network(route["dst"] if "/" in route["dst"] else f"{route['dst']}/32", strict=False)
                if not any(net.version == a.version and net.subnet_of(a) for a in allowed):
                    found.append((ns, "route", route))
            sock = Netns(ns).socket()
            sock.settimeout(0.3)
            try:
                sock.connect(listener.getsockname())
                found.append((ns, "connected to the host's loopback"))
            except OSError:
                pass
            finally:
                sock.close()
    finally:
        listener.close()
    return found


def containers_inside(ns: str, address: str, ws: str) -> dict:
    """The course's nginx + node task on the instance, run by the agent's container code in the sandbox."""
    from helpers import workspace
    from helpers.lab.ecs import cgroups, containers
    from tests.support.lab_support import WEB_CONTAINERS

    host = containers.DockerHost(ns, address, ws=ws, workdir=workspace.path("lab") / "rootless-test")
    try:
        nginx, _api = sorted(host.run_task("r1", WEB_CONTAINERS), key=lambda c: c.name != "nginx")
        code = f"import urllib.request;print(urllib.request.urlopen('http://{address}:{nginx.ports[80]}/x', timeout=3).read().decode())"

        def answer():
            done = subprocess.run(
                ["ip", "netns", "exec", ns, sys.executable, "-c", code], capture_output=True, text=True, timeout=10
            )
            return json.loads(done.stdout) if done.returncode == 0 else None

        body = wait_until(
            answer, until=lambda b: b is not None, within=15, what="nginx's answer", every=0.25, otherwise=None
        )
        return {
            "euid": os.geteuid(),
            "body": body,
            "memory": cgroups.memory_limits(),
            "nginx_user": open(host.workdir / "containers" / "r1-nginx" / "etc" / "nginx" / "nginx.conf")
            .readline()
            .strip(),
        }
    finally:
        host.close(timeout=5)


if __name__ == "__main__":
    if sys.argv[1] == "containers":
        print(json.dumps(containers_inside(*sys.argv[2:5])))
    else:
        print(json.dumps(main(*sys.argv[1:4])))
