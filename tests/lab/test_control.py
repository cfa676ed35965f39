"""The lab's life (helpers/lab/control/: commands, supervisor, programs; `python -m helpers lab`): up, re-sync, one
per workspace, down."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers import workspace
from helpers.errors import CourseError
from helpers.lab import model
from helpers.lab.control import commands as control
from helpers.lab.control import programs, supervisor
from helpers.lab.net import kernel
from helpers.lab.net.netns import Netns
from helpers.lab.net.probe import probe
from helpers.runtime import aws
from tests.support import lab_support as lab
from tests.support.waiting import wait_until

# Bounds on following a change, not on speed (the re-sync within 0.1 s is make bench's budget, bench/lab.py): a test
# worker beside three others on two cores (the course's favoured) may wait seconds for the CPU.
FOLLOWS_WITHIN = 20.0  # seconds
WEB = [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]


@pytest.fixture
def lab_ws(emulator_url, tmp_path, monkeypatch):
    """A workspace of the test's own (its own <ws> tag and lab/ folder), the session's emulator."""
    lab.require_kernel()
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)  # the session's emulator, not one of the new workspace
    try:
        yield emulator_url
    finally:
        control.down()
        assert kernel.namespaces(kernel.tag()) == []


def test_up_follows_changes_and_down_removes_everything(lab_ws):
    """Bounds on following, not on speed: the re-sync within 0.1 s is make bench's budget (bench/lab.py)."""
    with lab.small_vpc("10.87.0.0/16") as made:
        web = lab.group(made, "web")
        target = lab.instance(made, "subnet_a", [web])["InstanceId"]
        info = control.up(lab_ws, vpcs=[made["vpc"]], quiet=True)
        assert info["running"] and [h["id"] for h in info["hosts"]] == [target]
        assert control.up(lab_ws, vpcs=[made["vpc"]], quiet=True)["pid"] == info["pid"]  # idempotent
        environ = Path(f"/proc/{info['pid']}/environ").read_bytes().decode().split("\0")
        assert {f"{k}={v}" for k, v in control.SUPERVISOR_ENVIRONMENT.items()} <= set(environ), "malloc's settings"
        ws = kernel.tag()
        m = model.read().only([made["vpc"]])
        assert probe(m, "internet", target, 8080, ws=ws, timeout=0.3) == "blocked"

        aws.client("ec2").authorize_security_group_ingress(GroupId=web, IpPermissions=WEB)
        # pushed: the supervisor answers once its kernel has the write (the emulator's long-poll woke it)
        assert control.wait_synced(within=FOLLOWS_WITHIN)["synced"]
        assert probe(m, "internet", target, 8080, ws=ws, timeout=0.3) == "reachable"
        assert control.status()["rebuilt"] == [target], "a rule changed: only its host's filters were compiled"

        other = lab.instance(made, "subnet_b", [web])["InstanceId"]
        wait_until(
            lambda: control.status()["hosts"],
            until=lambda hosts: any(h["id"] == other for h in hosts or []),
            within=FOLLOWS_WITHIN,
            what=f"the new instance {other} among the lab's hosts",
        )
        assert kernel.ns_name(ws, "ec2", other) in kernel.namespaces(ws)
        assert "lab up" in control.status_text().lower()

        removed = control.down()
        assert kernel.ns_name(ws, "ec2", target) in removed
        assert kernel.namespaces(ws) == [] and not control.status()["running"]
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"lab-{ws}-" not in listed


def test_a_second_lab_in_one_workspace_is_refused(lab_ws):
    with lab.small_vpc("10.88.0.0/16") as made:
        lab.instance(made, "subnet_a", [lab.group(made, "g")])
        control.up(lab_ws, vpcs=[made["vpc"]], quiet=True)
        second = subprocess.run(
            [sys.executable, "-m", "helpers.lab.control.supervisor", "supervise", "--endpoint", lab_ws],
            capture_output=True, text=True, timeout=30, cwd=workspace.REPO,
        )  # fmt: skip
        assert second.returncode == 1 and "A lab already runs in this workspace" in second.stderr
        with pytest.raises(Exception, match="already runs in this workspace"):
            control.up(lab_ws, vpcs=["vpc-other"], quiet=True)


def test_cli_up_outlives_its_process_then_status_rules_probe_down(lab_ws):
    """`lab up` returns at once; the supervisor keeps running (as after a Jupyter kernel restart)."""
    with lab.small_vpc("10.89.0.0/16") as made:
        web = lab.group(made, "web", WEB)
        target = lab.instance(made, "subnet_a", [web])["InstanceId"]
        control.up(lab_ws, vpcs=[made["vpc"]], quiet=True)

        def cli(*args):
            env_cmd = [sys.executable, "-m", "helpers", "lab", *args]
            return subprocess.run(env_cmd, capture_output=True, text=True, timeout=60, cwd=workspace.REPO)

        status = cli("status")
        assert status.returncode == 0 and target in status.stdout, status.stderr
        rules = cli("rules", target)
        assert f"{web} #0: tcp port 8080 from 0.0.0.0/0" in rules.stdout and "nft: meta nfproto ipv4" in rules.stdout
        assert cli("probe", "internet", target, "8080").stdout.strip() == "reachable"
        assert cli("probe", "internet", target, "8081", "--timeout", "0.3").stdout.strip() == "blocked"
        bad = cli("probe", "internet", target)
        assert bad.returncode == 2 and "lab probe needs FROM TO PORT" in bad.stderr
        down = cli("down")
        assert down.returncode == 0 and "namespaces removed" in down.stdout
        assert not control.status()["running"]


def test_node_programs_are_threads_that_reach_their_host_namespace_and_stop_with_it(lab_ws, monkeypatch):
    """NODE_PROGRAMS: (role, builder → Program). Each runs as a thread of the supervisor that opens its
    sockets in its host's namespace (Netns.socket) without moving itself or any other thread of
    the supervisor there; a failed run is restarted (its traceback in lab/<role>-<id>.log); changed
    arguments restart it; the host gone, it is stopped."""
    with lab.small_vpc("10.90.0.0/16") as made:
        lab.instance(made, "subnet_a", [lab.group(made, "g")])
        m = model.read().only([made["vpc"]])
        (host,) = m.hosts
        ns = kernel.host_ns(kernel.tag(), host)
        seen: dict = {"runs": [], "stopped": 0}

        def serve(stop, log, *, address, port):
            seen["runs"].append(port)
            if len(seen["runs"]) == 1:
                raise RuntimeError("the first run fails")
            sock = Netns(ns).socket()
            try:
                sock.bind((address, port))  # only the host's namespace has its address
                sock.listen(1)
                seen["thread_ns"] = os.readlink("/proc/thread-self/ns/net")
                seen["bound"] = sock.getsockname()
                log("listening")
                stop.wait(30)
            finally:
                sock.close()
                seen["stopped"] += 1

        port = {"value": 8080}
        monkeypatch.setattr(
            programs,
            "NODE_PROGRAMS",
            [("ec2", lambda ctx, h: programs.Program.of(serve, address=h.private_ip, port=port["value"]))],
        )
        monkeypatch.setattr(programs, "LAB_PROGRAMS", [])
        monkeypatch.setattr(programs, "RESTART_DELAY", 0.1)
        own = os.readlink("/proc/self/ns/net")
        following = supervisor.Supervisor(lab_ws, [made["vpc"]])
        try:
            following.sync(m)
            wait_until(  # restarted after its failure
                lambda: following.sync_programs(m) or "bound" in seen, within=30, what="the program bound again"
            )
            assert seen["bound"] == (host.private_ip, 8080) and seen["thread_ns"] == own
            listening = subprocess.run(
                ["ip", "netns", "exec", ns, "cat", "/proc/net/tcp"], capture_output=True, text=True
            )
            assert any(
                row.split()[1].endswith(":1F90") and row.split()[3] == "0A" for row in listening.stdout.splitlines()[1:]
            )
            assert {os.readlink(f"/proc/self/task/{t}/ns/net") for t in os.listdir("/proc/self/task")} == {own}
            log = (workspace.path("lab") / f"ec2-{host.id}.log").read_text()
            assert "Traceback" in log and "RuntimeError: the first run fails" in log and "listening" in log
            (entry,) = following.state["programs"]
            assert (entry["host"], entry["alive"], entry["restarts"]) == (host.id, True, 1)

            port["value"] = 8081  # its arguments change: stopped, started again with them
            following.sync_programs(m)
            wait_until(lambda: seen.get("bound") == (host.private_ip, 8081), within=30, what="the program on 8081")
            assert seen["stopped"] == 1 and seen["runs"] == [8080, 8080, 8081]

            following.sync(model.Model())  # the host is gone: its program is stopped
            assert following.programs.running == {} and seen["stopped"] == 2
            assert not [t for t in threading.enumerate() if t.name.startswith("lab-ec2-")]
        finally:
            following.programs.stop(list(following.programs.running))
            kernel.remove_all(kernel.tag())


def test_each_ecs_cluster_gets_its_scheduler_program(lab_ws):
    """CLUSTER_PROGRAMS: the supervisor runs ECS's service scheduler (helpers/lab/ecs/scheduler.py) once per
    cluster it follows: one with no container instance (ECS says it cannot place its services' tasks), or with
    one on a lab host; not a cluster whose instances are all outside the lab (another lab's, a test's)."""
    from helpers.lab.ecs import scheduler

    ecs = aws.client("ecs")
    empty = ecs.create_cluster(clusterName=f"lab-sched-{os.getpid()}")["cluster"]["clusterArn"]
    following = supervisor.Supervisor(lab_ws, ["vpc-none"])
    following.read_clusters(model.Model())
    assert empty in following.clusters
    name = empty.rsplit("/", 1)[-1]
    program = programs.wanted(following.ctx, model.Model(), following.clusters)[("ecs", name)]
    assert program == programs.Program.of(
        scheduler.program, endpoint=lab_ws, region=following.ctx.region, cluster=empty
    )


def test_status_says_when_the_lab_cannot_run_here(monkeypatch):
    from helpers.runtime import lab_machine

    monkeypatch.setattr(lab_machine.sys, "platform", "darwin")
    info = control.status()
    assert not info["can_run"] and "needs Linux" in control.status_text(info)
    with pytest.raises(Exception, match="cannot run on this machine"):
        control.up("http://127.0.0.1:1")
    monkeypatch.setattr(lab_machine.sys, "platform", "linux")
    monkeypatch.setattr(lab_machine.shutil, "which", lambda name: None if name == "nft" else "/usr/bin/" + name)
    if lab_machine.os.geteuid() == 0:
        assert "apt-get install nftables" in control.status_text()


def test_doctor_reports_the_lab_as_optional(monkeypatch):
    """doctor names whether the lab can run here; a machine without it is still ready for the course."""
    from helpers.course import doctor
    from helpers.runtime import lab_machine

    monkeypatch.setattr(lab_machine.sys, "platform", "darwin")
    check = doctor._check_lab()
    assert check.name == "Traffic lab" and not check.ok and check.optional and "needs Linux" in check.detail
    report = doctor.report([doctor.Check("Python", True, "3.11"), check])
    assert "– Traffic lab" in report and "Ready: every check passed." in report


def test_the_lab_follows_an_emulator_restart(tmp_path, monkeypatch):
    """Emulator stopped: the lab keeps what it built and says so; restarted (empty): the lab follows its state,
    on another port too when its own was taken meanwhile."""
    lab.require_kernel()
    from helpers.runtime import emulator

    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "own"))
    url = emulator.start(quiet=True)
    try:
        with lab.small_vpc("10.92.0.0/16") as made:
            first = lab.instance(made, "subnet_a", [lab.group(made, "g")])["InstanceId"]
            control.up(url, vpcs=[made["vpc"]], quiet=True)
            ws = kernel.tag()
            emulator.stop()
            # Bounds on following, not on speed (re-sync within 0.1 s is make bench's budget): a test worker beside
            # three others on two cores (the course's favoured) may wait seconds for the CPU.
            wait_until(
                lambda: control.status()["emulator"],
                until=lambda said: "not answering" in (said or ""),
                within=FOLLOWS_WITHIN,
                what="the lab seeing the emulator gone",
            )
            assert kernel.ns_name(ws, "ec2", first) in kernel.namespaces(ws)  # kept while the emulator is away
            assert emulator.start(quiet=True) == url
            # the restarted emulator holds nothing (moto keeps state in memory): the lab follows it
            wait_until(
                control.status,
                until=lambda status: status["emulator"] == "emulator answering" and status["hosts"] == [],
                within=FOLLOWS_WITHIN,
                what="the lab following the restarted, empty emulator",
            )
            assert kernel.ns_name(ws, "ec2", first) not in kernel.namespaces(ws)

            # restarted on another port, its own taken meanwhile (by a listener closed at once: a
            # connection the supervisor made to it in that moment is reset, never left hanging)
            emulator.stop()
            port = int(url.rsplit(":", 1)[1])
            with socket.socket() as taken:
                taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                taken.bind(("127.0.0.1", port))
                taken.listen(8)
                moved = emulator.start(quiet=True)
            assert moved != url
            wait_until(
                control.status,
                until=lambda status: status["endpoint"] == moved,
                within=FOLLOWS_WITHIN,
                what=f"the lab following the emulator to {moved}",
            )
            wait_until(
                lambda: control.status()["emulator"],
                until=lambda said: said == "emulator answering",
                within=FOLLOWS_WITHIN,
                what="the moved emulator answering the lab",
            )
            pid = control.status()["pid"]
            assert control.up(moved, vpcs=[made["vpc"]], quiet=True)["pid"] == pid  # the same lab, moved
    finally:
        control.down()
        emulator.stop()


def test_up_without_an_emulator_is_one_clear_message(tmp_path, monkeypatch):
    lab.require_kernel()
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "none"))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: nothing answers there
        with pytest.raises(CourseError, match="Nothing answers at"):
            control.up(f"http://127.0.0.1:{port}", quiet=True)
    assert not control.status()["running"]


def test_down_while_a_connection_is_in_flight(lab_ws):
    """lab down does not wait for open connections: they end, every namespace goes."""
    with lab.small_vpc("10.93.0.0/16") as made:
        target = lab.instance(made, "subnet_a", [lab.group(made, "web", WEB)])["InstanceId"]
        control.up(lab_ws, vpcs=[made["vpc"]], quiet=True)
        ws = kernel.tag()
        host = model.read().host(target)
        server = Netns(kernel.host_ns(ws, host)).socket()
        client = Netns(kernel.internet_ns(ws)).socket()
        try:
            server.bind(("0.0.0.0", 8080))
            server.listen(1)
            client.settimeout(2)
            client.connect((host.public_ip, 8080))
            conn, _ = server.accept()
            conn.sendall(b"partial")  # a response under way
            control.down()  # returns (it bounds its own wait: STOP_TIMEOUT, then SIGKILL)
            assert kernel.namespaces(ws) == []
            with contextlib.suppress(OSError):  # sending may fail at once (no route) or be queued
                client.sendall(b"more")
            conn.settimeout(1)
            try:
                arrived = conn.recv(100)
            except OSError:  # a timeout: nothing arrived
                arrived = b""
            assert b"more" not in arrived, "the path is gone: nothing the client sends reaches the server"
            conn.close()
        finally:
            server.close()
            client.close()


def test_lab_tests_fail_instead_of_skipping_under_ci(monkeypatch):
    monkeypatch.setattr(lab.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="make test"):
        lab.require_kernel()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        lab.require_kernel()
