"""(h) The traffic lab on the course's stack: lab up, re-sync, the lab ALB's latency and throughput, memory.

    .venv/bin/python bench/run.py --only lab     (part of: make bench, ~5 min on 2 cores)

On a fresh emulator in a throw-away workspace, ``terraform apply`` of a copy of terraform/
(course.terraform_steps, as (a) does), then:

1. ``lab up``: wall time of the first one on the applied stack, then the median of ``UP_CYCLES``
   down/up cycles (control.up returns after the first sync: namespaces, links, filters, programs started);
2. re-sync: from a boto3 ``authorize_security_group_ingress`` (or revoke) on the instances' group
   until ``nft list table inet lab_sg`` in an instance's namespace shows the change, median of
   ``RESYNC_SAMPLES``; and until ``control.wait_synced()`` (what lab.curl and lab.connect wait on) returns.
   Pushed: the emulator's long-poll wakes the supervisor at the write, which recompiles the touched hosts only;
3. the lab ALB's added latency: ``REQUESTS`` sequential GET / over one keep-alive HTTPS connection
   to the ALB node's private address (forwarded to the target group), median, minus the median of
   the same requests over one keep-alive HTTP connection straight to the tasks' host ports; both
   from the ALB node's own namespace, interleaved, alternating between the targets as the ALB does;
4. throughput: ``CLIENTS`` concurrent keep-alive HTTPS clients through the ALB for ``LOAD_SECONDS``, and the
   CPU time the supervisor (whose threads run the ALB nodes) spends per request meanwhile;
5. memory: the PSS (and RSS) of every process of the lab, each and summed, right after the load: the supervisor's
   process tree (its threads: ALB nodes, ECS agents and scheduler, DNS) and every process in a namespace of the lab
   (``ip netns pids``). Two sums beside the whole: the lab's machinery (the supervisor) and the learner's tasks
   (nginx and Node.js, each in its container's namespace: they stand in for the ECS tasks, within the task
   definition's memory). The same again ``SETTLE`` s later, the lab at rest, as a workshop hub holds it most of the
   time (Node.js gives back the garbage of the load only once it idles: V8's memory reducer); and the peak RSS of one
   run of the lab's client (``lab.curl``'s program, from the internet namespace through the ALB), which lives for one
   request, so it is not in the sum.

Every request starts inside the lab (its sockets are made in the ALB node's namespace) and goes to
lab addresses only. ``lab down``, the emulator stopped and the workspace's namespaces gone, even on
failure. Where the lab cannot run (not root, no nft), the part records why instead.
Budgets (issue 13, "Performance"; issue 23 for the re-sync and the memory): up <= 3 s, re-sync <= 0.1 s,
added latency <= 2 ms median, throughput >= 500 req/s (2 cores); memory <= 120 MB PSS for every lab process
together, the tasks included, right after the load (the workshop hub runs one lab per learner). PSS splits a shared page among the processes that map it, so a
program's figure also depends on what else runs on the machine (other labs' node processes, say).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import socket
import ssl
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import Measure, Part, median, process_cpu_s, quietly, rounded
from bench.course import fresh_workspace, terraform_steps
from bench.labmemory import (
    KEPT,
    MEMORY_BUDGET_MB,
    SETTLE,
    client_memory,
    lab_processes,
    memory,
    memory_measures,
    part_measures,
)

UP_CYCLES = 3  # down + up cycles after the first up
RESYNC_SAMPLES = 6  # half authorize, half revoke
RESYNC_WITHIN = 5.0  # seconds: a change not seen by then fails the part
POLL = 0.01  # seconds between two nft listings (each one is an `ip netns exec`, ~10 ms itself)
REQUESTS = 300  # sequential requests per path for the latency
WARM_UP = 20
CLIENTS = 10
LOAD_SECONDS = 5.0
HEALTHY_WITHIN = 180.0  # seconds: tasks started and two health checks passed (terraform/target_group.tf)
PROBE_RULE = {"IpProtocol": "tcp", "FromPort": 9, "ToPort": 9, "IpRanges": [{"CidrIp": "198.51.100.0/24"}]}
PROBE_TEXT = "198.51.100.0/24"  # how the rule shows in nft (documentation range, RFC 5737: never routed)


# ---------------------------------------------------------------- HTTP from inside the lab


class LabConnection(http.client.HTTPConnection):
    """A keep-alive HTTP(S) connection whose socket lives in a lab namespace; never reconnects from here."""

    def __init__(self, ns: str, address: str, port: int, *, tls_name: str | None = None, timeout: float = 10.0):
        from helpers.lab.net.netns import Netns

        super().__init__(address, port, timeout=timeout)
        sock = Netns(ns).socket()
        sock.settimeout(timeout)
        sock.connect((address, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = _tls().wrap_socket(sock, server_hostname=tls_name) if tls_name else sock
        self.host_header = tls_name or f"{address}:{port}"

    def connect(self):  # the server closed it: a new socket here would be in the host's namespace
        raise ConnectionError(f"{self.host}:{self.port} closed the keep-alive connection")

    def get(self) -> float:
        """Seconds of one GET / (headers sent to the whole body read); a non-200 answer raises."""
        began = time.perf_counter()
        self.request("GET", "/", headers={"Host": self.host_header})
        reply = self.getresponse()
        reply.read()
        took = time.perf_counter() - began
        if reply.status != 200:
            raise RuntimeError(f"GET / at {self.host}:{self.port} answered {reply.status}")
        return took


def _tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the lab's certificate is self-signed
    return ctx


def fresh_connection_get(ns: str, address: str, port: int) -> float:
    """Seconds of one GET / on a new connection (connect included), as the ALB reaches its targets."""
    began = time.perf_counter()
    conn = LabConnection(ns, address, port)
    try:
        conn.request("GET", "/", headers={"Host": conn.host_header, "Connection": "close"})
        conn.getresponse().read()
    finally:
        conn.close()
    return time.perf_counter() - began


def latency(ns: str, alb: tuple[str, int, str], targets: list[tuple[str, int]]) -> dict:
    """Median ms through the ALB and straight to the targets, interleaved (REQUESTS each)."""
    via = LabConnection(ns, alb[0], alb[1], tls_name=alb[2])
    direct = [LabConnection(ns, a, p) for a, p in targets]
    samples = {"alb": [], "direct": [], "direct_new_connection": []}
    try:
        for n in range(WARM_UP + REQUESTS):
            through, straight = via.get(), direct[n % len(direct)].get()
            fresh = fresh_connection_get(ns, *targets[n % len(targets)]) if n % 3 == 0 else None
            if n >= WARM_UP:
                samples["alb"].append(through)
                samples["direct"].append(straight)
                if fresh is not None:
                    samples["direct_new_connection"].append(fresh)
    finally:
        for conn in [via, *direct]:
            conn.close()
    return {name: median(values) * 1000 for name, values in samples.items()} | {"requests": REQUESTS}


async def _load(ns: str, address: str, port: int, name: str | None, seconds: float) -> dict:
    """CLIENTS keep-alive clients, each GET / in a loop for ``seconds``: answers and errors counted."""
    from helpers.lab.net.netns import Netns

    loop = asyncio.get_running_loop()
    counts = {"ok": 0, "other": 0, "errors": 0, "reconnects": 0}
    request = f"GET / HTTP/1.1\r\nHost: {name or address}\r\n\r\n".encode()
    deadline = loop.time() + seconds

    async def connect():
        sock = Netns(ns).socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, (address, port))
        tls = {"ssl": _tls(), "server_hostname": name} if name else {}
        return await asyncio.open_connection(sock=sock, **tls)

    async def body(reader, head: str) -> None:
        """Read the body: Content-Length or chunked (nginx passes the Node API's chunked answer on)."""
        if "transfer-encoding: chunked" not in head:
            length = next((int(x.split(":", 1)[1]) for x in head.split("\r\n") if x.startswith("content-length:")), 0)
            await reader.readexactly(length)
            return
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")  # no trailers: the empty line

    async def client():
        reader, writer = await connect()
        try:
            while loop.time() < deadline:
                writer.write(request)
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
                await body(reader, head)
                counts["ok" if head.startswith("http/1.1 200") else "other"] += 1
                if "connection: close" in head:  # nginx ends a connection after 1000 requests: a new one
                    counts["reconnects"] += 1
                    writer.close()
                    reader, writer = await connect()
        finally:
            writer.close()

    began = time.perf_counter()
    results = await asyncio.wait_for(
        asyncio.gather(*(client() for _ in range(CLIENTS)), return_exceptions=True), seconds + 30
    )
    took = time.perf_counter() - began
    counts["errors"] += sum(isinstance(r, BaseException) for r in results)
    return counts | {"seconds": round(took, 2), "per_s": counts["ok"] / took}


def throughput(ns: str, address: str, port: int, name: str | None = None, seconds: float = LOAD_SECONDS) -> dict:
    return asyncio.run(_load(ns, address, port, name, seconds))


# ---------------------------------------------------------------- re-sync (memory: bench/labmemory.py)


def nft_table(ns: str) -> str:
    from helpers.lab.net import filters

    argv = ["ip", "netns", "exec", ns, "nft", "list", "table", "inet", filters.TABLE]
    return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout


def resync(ec2, group_id: str, ns: str) -> dict:
    """Seconds from the boto3 call until the instance's nftables show the change, each direction; and until the
    supervisor's sync answer (control.wait_synced) for the same kind of change."""
    from helpers.lab.control import commands as control

    samples = {"authorize": [], "revoke": [], "wait_synced": []}
    for n in range(RESYNC_SAMPLES):
        time.sleep(random.uniform(0.1, 0.4))  # not in step with the supervisor's 1 s heartbeat
        adding = n % 2 == 0
        began = time.perf_counter()
        if adding:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[PROBE_RULE])
        else:
            ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[PROBE_RULE])
        while (PROBE_TEXT in nft_table(ns)) != adding:
            if time.perf_counter() - began > RESYNC_WITHIN:
                raise RuntimeError(f"the lab did not show the group change within {RESYNC_WITHIN} s in {ns}")
            time.sleep(POLL)
        samples["authorize" if adding else "revoke"].append(time.perf_counter() - began)
    for n in range(RESYNC_SAMPLES):  # the event the lessons wait on, for the same change back and forth
        time.sleep(random.uniform(0.1, 0.4))
        change = ec2.authorize_security_group_ingress if n % 2 == 0 else ec2.revoke_security_group_ingress
        began = time.perf_counter()
        change(GroupId=group_id, IpPermissions=[PROBE_RULE])
        control.wait_synced(RESYNC_WITHIN)
        samples["wait_synced"].append(time.perf_counter() - began)
    if PROBE_TEXT in nft_table(ns):
        raise RuntimeError(f"the probe rule is left in {ns} after an even number of changes")
    return samples


# ---------------------------------------------------------------- the part


def _until(check, seconds: float, step: float = 1.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answer := check():
            return answer
        time.sleep(step)
    return None


def skipped(why: str) -> Part:
    return Part([Measure("(h) traffic lab", None, text=f"skipped: {why}")], {"skipped": why})


def run(root: Path) -> Part:
    from helpers.lab.control import commands as control
    from helpers.lab.net import kernel
    from helpers.runtime import aws, emulator, lab_machine
    from helpers.tf import standalone

    verdict = lab_machine.check()
    if not verdict.ok:
        return skipped(f"{verdict.detail} ({verdict.fix})" if verdict.fix else verdict.detail)
    fresh_workspace(root, "lab")
    ws, details = kernel.tag(), {"cores": os.cpu_count()}
    try:
        folder = standalone.prepare(root / "lab-terraform")
        details["terraform_s"] = rounded(terraform_steps(folder, "lab", "init", "apply"), 1)
        outputs = {k: v["value"] for k, v in json.loads(standalone.terraform(folder, "output", "-json").stdout).items()}
        ups, downs = [], []
        for cycle in range(UP_CYCLES + 1):
            if cycle:
                began = time.perf_counter()
                control.down()
                downs.append(time.perf_counter() - began)
            began = time.perf_counter()
            quietly(lambda: control.up(quiet=True))
            ups.append(time.perf_counter() - began)
        info = control.status()
        hosts = {h["id"]: h for h in info["hosts"]}
        instance = next(h for h in hosts.values() if h["role"] == "ec2")
        node = next(h for h in hosts.values() if h["role"] == "alb")

        ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")

        def healthy():
            health = elbv2.describe_target_health(TargetGroupArn=outputs["target_group_arn"])
            found = [
                (hosts[t["Target"]["Id"]]["private_ip"], t["Target"]["Port"])
                for t in health["TargetHealthDescriptions"]
                if t["TargetHealth"]["State"] == "healthy" and t["Target"]["Id"] in hosts
            ]
            return found if len(found) >= 2 else None

        began = time.monotonic()
        targets = _until(healthy, HEALTHY_WITHIN)
        if not targets:
            raise RuntimeError(f"the targets were not healthy within {HEALTHY_WITHIN:.0f} s of lab up")
        details["healthy_after_up_s"] = round(time.monotonic() - began, 1)
        samples = resync(ec2, outputs["instance_security_group_id"], instance["ns"])  # the lab at rest
        name = urlsplit(outputs["url"]).hostname
        alb = (node["private_ip"], 443, name)
        ms = latency(node["ns"], alb, targets)
        cpu_before = process_cpu_s(info["pid"])
        load = throughput(node["ns"], *alb)
        load["node_cpu_ms_per_request"] = (process_cpu_s(info["pid"]) - cpu_before) * 1000 / max(load["ok"], 1)
        load_direct = throughput(node["ns"], *targets[0])
        used = memory(lab_processes(info["pid"], ws))
        client = client_memory(kernel.internet_ns(ws), outputs["url"])
        time.sleep(SETTLE)  # the lab without traffic (a measurement's moment, not a wait for an event)
        at_rest = memory(lab_processes(info["pid"], ws))
    finally:
        try:
            quietly(control.down)
        finally:
            emulator.stop()
    left = kernel.namespaces(ws)
    resync_all = samples["authorize"] + samples["revoke"]
    synced_all = samples["wait_synced"]
    added = ms["alb"] - ms["direct"]
    details |= {
        "up_s": [round(s, 2) for s in ups],
        "down_s": [round(s, 2) for s in downs],
        "resync_s": {k: [round(s, 3) for s in v] for k, v in samples.items()},
        "latency_ms": rounded(ms, 3),
        "targets": len(targets),
        "throughput_alb": rounded(load, 1),
        "throughput_direct_one_task": rounded(load_direct, 1),
        "memory": {k: round(v, 1) for k, v in used.items() if k not in KEPT}
        | {k: used[k] for k in KEPT}
        | {"client": rounded(client, 1)},
        "memory_at_rest": {k: round(v, 1) for k, v in at_rest.items() if k not in KEPT}
        | {k: at_rest[k] for k in KEPT}
        | {"settle_s": SETTLE},
        "namespaces_left": left,
    }
    cores = os.cpu_count()
    errors = f", {load['errors'] + load['other']} errors or non-200" if load["errors"] + load["other"] else ""
    measures = [
        Measure(
            "(h) lab up on terraform/ (first, after apply)",
            ups[0],
            budget=3.0,
            text=f"{len(hosts)} hosts; then down/up x{UP_CYCLES}: lab down median {median(downs):.2f} s",
        ),
        Measure(f"    lab up, median of {UP_CYCLES} down/up cycles", median(ups[1:]), budget=3.0),
        Measure(
            f"    re-sync after a group change, median of {RESYNC_SAMPLES}",
            median(resync_all),
            budget=0.1,
            text=f"boto3 authorize/revoke until nft in the instance's namespace shows it; max {max(resync_all):.2f} s",
        ),
        Measure(
            f"    re-sync until lab.wait_synced answers, median of {RESYNC_SAMPLES}",
            median(synced_all),
            budget=0.1,
            text=f"pushed: the emulator's long-poll wakes the supervisor; max {max(synced_all):.2f} s",
        ),
        Measure(
            f"    lab ALB added latency, median of {REQUESTS}",
            added,
            unit="ms",
            budget=2.0,
            text=f"keep-alive HTTPS via the ALB {ms['alb']:.2f} ms - keep-alive HTTP to the tasks {ms['direct']:.2f} ms"
            f" (a new connection to a task: {ms['direct_new_connection']:.2f} ms; the ALB opens one per request),"
            " from the ALB node's namespace",
        ),
        Measure(
            f"    lab ALB throughput, {CLIENTS} keep-alive clients, {LOAD_SECONDS:g} s",
            load["per_s"],
            unit="req/s",
            budget=500,
            at_least=True,
            text=f"HTTPS, {cores} cores shared with the client and the tasks; nginx alone: "
            f"{load_direct['per_s']:.0f} req/s{errors}; the ALB node's CPU: "
            f"{load['node_cpu_ms_per_request']:.2f} ms per request",
        ),
        Measure(
            "    lab memory (PSS of every lab process, after the load)",
            used["pss_mb"],
            unit="MB",
            budget=MEMORY_BUDGET_MB,
            text=f"{used['processes']} processes, RSS sum {used['rss_mb']:.0f} MB; the lab's machinery "
            f"{used['pss_by_part_mb']['machinery']:.1f} MB + the learner's tasks {used['pss_by_part_mb']['tasks']:.1f} MB",
        ),
        *part_measures(used),
        *memory_measures(used),
        Measure(
            "      the lab's client, one request (peak RSS)",
            client["peak_rss_mb"],
            unit="MB",
            text=f"PSS at its end {client['pss_mb']:.1f} MB; python -m helpers.lab.client from the internet "
            "namespace through the ALB (lab.curl's program; not in the sum: it lives for one request)",
        ),
        Measure(
            f"    lab memory at rest ({SETTLE:.0f} s without traffic)",
            at_rest["pss_mb"],
            unit="MB",
            text=f"the lab's machinery {at_rest['pss_by_part_mb']['machinery']:.1f} MB + the learner's tasks "
            f"{at_rest['pss_by_part_mb']['tasks']:.1f} MB; by program: "
            + ", ".join(f"{name} {mb:.1f}" for name, mb in at_rest["pss_by_program_mb"].items()),
        ),
        Measure("    lab namespaces left after lab down", len(left), unit="count", budget=0, text=" ".join(left[:3])),
    ]
    return Part(measures, details)
