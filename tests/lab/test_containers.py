"""Containers as real processes: the course's nginx and node containers, linked, behind a host port.

Real kernel, real processes: each test makes its own throwaway "instance" namespace
(``lab-<ws>-i-test``, ``<ws>`` from the test's own tmp folder, its address on loopback)
and removes every namespace, process, rule and cgroup it made in a fixture's finally.
Needs root; skipped otherwise, failed instead when CI is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers.errors import CourseError
from helpers.lab.ecs import cgroups, containers, images
from tests.support.lab_support import WEB_CONTAINERS
from tests.support.waiting import wait_until

INSTANCE_ADDRESS = "10.99.0.5"


def require_root() -> None:
    """Skip (fail under CI) where the lab cannot run: it needs root, nginx and Node.js."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (network namespaces and nftables)")
    for image in images.IMAGES.values():
        try:
            image.program_path()
        except CourseError as error:
            missing.append(f"{image.program} ({error.fix})")
    if missing:
        message = "the lab's container tests need " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message + " (`make test` runs as root in CI)", pytrace=False)
        pytest.skip(message)


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, timeout=20)


def in_ns(ns: str, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout)


def fetch(ns: str, url: str) -> tuple[int, str]:
    """GET ``url`` from inside namespace ``ns`` (never from the host's namespace)."""
    code = (
        "import urllib.request,json\n"
        f"r = urllib.request.urlopen({url!r}, timeout=5)\n"
        "print(json.dumps([r.status, r.read().decode()]))"
    )
    done = in_ns(ns, sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr[-2000:]
    status, body = json.loads(done.stdout)
    return status, body


def fetch_retrying(ns: str, url: str, within: float = 10) -> tuple[int, str]:
    """The containers need a moment to listen: ask again, bounded (nginx and node listen within a second or two)."""
    return wait_until(
        lambda: fetch(ns, url),
        within=within,
        what=f"an answer from {url} in {ns}",
        every=0.25,
        ignoring=(AssertionError,),
    )


@pytest.fixture
def lab_ws(tmp_path) -> str:
    """This test's own ``<ws>``: names never collide with a learner's lab."""
    return hashlib.sha1(str(tmp_path).encode()).hexdigest()[:6]


@pytest.fixture
def instance_ns(lab_ws):
    """A throwaway instance namespace: loopback up, the instance address on lo; removed afterwards."""
    require_root()
    name = f"lab-{lab_ws}-i-test"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "addr", "add", f"{INSTANCE_ADDRESS}/32", "dev", "lo")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
        for leftover in containers.leftover_namespaces(lab_ws):
            subprocess.run(["ip", "netns", "del", leftover], capture_output=True, timeout=20)


@pytest.fixture
def docker_host(instance_ns, lab_ws, tmp_path):
    host = containers.DockerHost(instance_ns, INSTANCE_ADDRESS, ws=lab_ws, workdir=tmp_path / "lab")
    try:
        yield host
    finally:
        host.close(timeout=5)
        assert not containers.leftover_namespaces(lab_ws)


def test_linked_nginx_and_node_answer_through_the_dynamic_host_port(docker_host, instance_ns):
    """The course's task: a request to instance_address:hostPort gets the Node.js JSON through nginx.

    hostPort 0 maps to a port of the instance's own ip_local_port_range, forwarded by a DNAT
    from the instance's address, as Docker's bridge mode does:
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PortMapping.html
    https://docs.docker.com/engine/network/packet-filtering-firewalls/
    """
    in_ns(instance_ns, "sysctl", "-qw", "net.ipv4.ip_local_port_range=40100 40120")
    nginx, api = sorted(docker_host.run_task("t1", WEB_CONTAINERS), key=lambda c: c.name != "nginx")
    host_port = nginx.ports[80]
    assert 40100 <= host_port <= 40120
    assert api.ports == {}
    status, body = fetch_retrying(instance_ns, f"http://{INSTANCE_ADDRESS}:{host_port}/hello")
    assert status == 200
    assert json.loads(body) == {"ok": True, "path": "/hello"}
    rules = in_ns(instance_ns, "nft", "list", "table", "ip", "lab_docker").stdout
    assert f"ip daddr {INSTANCE_ADDRESS} tcp dport {host_port} dnat to {nginx.address}:80" in rules
    assert "masquerade" in rules
    # The link: nginx's /etc/hosts names api's address, as Docker's legacy links write it.
    hosts = (Path(docker_host.workdir) / "containers" / "t1-nginx" / "hosts").read_text()
    assert f"{api.address}\tapi t1-api" in hosts
    # The lab never touches the security-group table.
    assert "lab_sg" not in in_ns(instance_ns, "nft", "list", "tables").stdout


def test_nginx_sees_the_official_images_etc_nginx(docker_host, instance_ns):
    """Inside the container /etc/nginx is the official image's: conf.d/*.conf only, no sites-enabled.

    https://github.com/nginxinc/docker-nginx/blob/master/stable/alpine/nginx.conf
    """
    probe = dict(WEB_CONTAINERS[0], name="look", links=[], portMappings=[], memory=None)
    probe["command"] = [
        "ls /etc/nginx; grep include /etc/nginx/nginx.conf; ls /etc/nginx/conf.d | wc -l; "
        "touch /tmp/x /run/x /var/lib/nginx/x && echo writable; exec sleep 30"
    ]
    [look] = docker_host.run_task("t2", [probe])
    text = wait_until(  # a shell's ls and grep: a process start, bounded for a loaded machine
        lambda: look.log.read_text() if look.log.exists() else "",
        until=lambda text: "writable" in text,
        within=30,
        what="the probe's listing",
    )
    assert "sites-enabled" not in text
    assert "include /etc/nginx/conf.d/*.conf;" in text and "include       /etc/nginx/mime.types;" in text
    assert "writable" in text


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _command(pid: int) -> str:
    """The process's command name ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _descendants(pid: int) -> set[int]:
    """The live processes of the tree under ``pid`` (a zombie is in no cgroup any more)."""
    found, todo = set(), [pid]
    while todo:  # bounded: a process tree is finite, each pid visited once
        one = todo.pop()
        if not _alive(one):
            continue
        found.add(one)
        for task in Path(f"/proc/{one}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            todo += [int(c) for c in children if int(c) not in found]
    return found


def test_memory_is_a_hard_cgroup_limit(docker_host):
    """``memory`` (MiB) is the container's hard limit: the cgroup holds the process and the limit.

    Started from a thread while another thread runs (as in the lab's supervisor): no preexec_fn, the
    process is in its cgroup when run_task returns, and so is everything it started.
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definition_memory
    """
    kind, where = cgroups.memory_hierarchy()
    if kind is None:
        assert "NOT applied" in cgroups.memory_limits()
        pytest.skip(f"memory cgroups cannot be used here: {where}")
    # A small child (not a second Node.js: two of them come near the 128 MiB limit, and one killed for memory
    # would be a zombie, which no cgroup lists).
    forks = "require('child_process').spawn('/bin/sleep', ['30']);"
    api = dict(WEB_CONTAINERS[1], command=["node", "-e", forks + " setTimeout(() => {}, 30000)"])
    busy = threading.Event()
    beside = threading.Thread(target=busy.wait, args=(30,))
    beside.start()
    made: list = []
    try:
        starter = threading.Thread(target=lambda: made.extend(docker_host.run_task("t3", [api])))
        starter.start()
        starter.join(60)
    finally:
        busy.set()
        beside.join(5)
    [container] = made
    limit_file = "memory.max" if kind == "v2" else "memory.limit_in_bytes"
    assert int((container.cgroup / limit_file).read_text()) == 128 * 1024 * 1024
    assert str(container.process.pid) in (container.cgroup / "cgroup.procs").read_text().split()
    tree = wait_until(  # process starts (ip netns exec, unshare and sh exec node): bounded for a loaded machine
        lambda: _descendants(container.process.pid),
        until=lambda tree: len(tree) > 1,
        within=30,
        what="node's child",
    )
    inside = {int(p) for p in (container.cgroup / "cgroup.procs").read_text().split()}
    assert len(tree) > 1 and tree <= inside, (tree, inside)
    cgroup = container.cgroup
    docker_host.stop(container, timeout=5)
    assert not cgroup.exists()


def test_stop_terminates_and_removes_the_namespace_and_rules(docker_host, instance_ns, lab_ws):
    """Stop = SIGTERM (then SIGKILL after the bound); its netns, veth and DNAT rules go with it."""
    nginx, api = sorted(docker_host.run_task("t4", WEB_CONTAINERS), key=lambda c: c.name != "nginx")
    assert len(containers.leftover_namespaces(lab_ws)) == 2
    docker_host.stop(nginx, timeout=5)
    assert nginx.process.returncode is not None
    rules = in_ns(instance_ns, "nft", "list", "table", "ip", "lab_docker").stdout
    assert nginx.namespace not in rules
    assert containers.leftover_namespaces(lab_ws) == [api.namespace]
    # A process that ignores SIGTERM is killed after the bound.
    stubborn = dict(WEB_CONTAINERS[1], name="stubborn", command=["sh", "-c", "trap '' TERM; sleep 60 & wait"])
    [container] = docker_host.run_task("t5", [stubborn])
    wait_until(  # sh runs `sleep 60 &` only after its trap: once a `sleep` runs, SIGTERM is ignored
        lambda: [_command(pid) for pid in _descendants(container.process.pid)],
        until=lambda commands: "sleep" in commands,
        within=30,
        what="the stubborn container's sleep (started after its trap)",
    )

    docker_host.stop(container, timeout=1)
    assert container.process.returncode == -9, "killed after the 1 s bound, not ended by SIGTERM"


def test_a_replacement_gets_the_next_host_port(docker_host):
    """Docker's port allocator hands out the port after the last one: a new task, a new host port."""
    [first] = [c for c in docker_host.run_task("t6", WEB_CONTAINERS) if c.name == "nginx"]
    port = first.ports[80]
    for container in list(docker_host.containers.values()):
        docker_host.stop(container, timeout=5)
    [second] = [c for c in docker_host.run_task("t7", WEB_CONTAINERS) if c.name == "nginx"]
    assert second.ports[80] != port


def test_unknown_image_names_the_image_field():
    """An image the lab does not know: one message naming the task definition field `image`."""
    with pytest.raises(CourseError) as caught:
        images.image_for("public.ecr.aws/docker/library/redis:7", "cache")
    assert "`image`" in caught.value.what and "cache" in caught.value.what
    assert images.image_for("public.ecr.aws/nginx/nginx:1.30-alpine") is images.NGINX
    assert images.image_for("node:20") is images.NODE


def test_volumes_are_refused_naming_the_field(tmp_path):
    """A container definition the lab cannot run: the message names the field (here `mountPoints`)."""
    host = containers.DockerHost("lab-none-i-x", INSTANCE_ADDRESS, ws="none00", workdir=tmp_path)
    bad = dict(WEB_CONTAINERS[1], mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}])
    with pytest.raises(CourseError, match="`mountPoints`"):
        host.run_task("t8", [bad])


def test_status_says_images_are_not_pulled():
    lines = images.status_lines()
    assert "not pulled" in lines[0]
    assert any(line.strip().startswith("nginx:") for line in lines)
    assert any(line.strip().startswith("node:") for line in lines)
    assert "memory limits:" in cgroups.memory_limits()


def test_memory_limits_inside_ip_netns_exec_leave_the_hosts_mounts_alone(instance_ns):
    """Under `ip netns exec` /sys is a fresh sysfs without cgroups: the hierarchy is mounted in that
    process's private mount namespace, the limit still applies, and the host's mounts do not change."""
    before = Path("/proc/self/mountinfo").read_text().count("cgroup")
    code = (
        "from helpers.lab.ecs import cgroups\n"
        "kind, where = cgroups.memory_hierarchy()\n"
        "group = cgroups.make('lab-probe-memory', 32)\n"
        "limit = (group / ('memory.max' if kind == 'v2' else 'memory.limit_in_bytes')).read_text().strip() if group else ''\n"
        "cgroups.remove(group)\n"
        "print(kind, limit, group is not None and group.exists())"
    )
    done = in_ns(instance_ns, sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    kind, *rest = done.stdout.split()
    if kind == "None":
        pytest.skip("no memory cgroup hierarchy on this machine")
    assert rest == [str(32 * 1024 * 1024), "False"]
    assert Path("/proc/self/mountinfo").read_text().count("cgroup") == before


def test_a_task_that_fails_to_start_leaves_nothing(docker_host, instance_ns, lab_ws):
    """Two containers on one fixed host port: the second fails naming `portMappings`, and the whole
    task is rolled back (no namespace, process or rule left)."""
    fixed = [
        dict(WEB_CONTAINERS[1], name=f"api{i}", portMappings=[{"containerPort": 3000, "hostPort": 40500}])
        for i in (1, 2)
    ]
    with pytest.raises(CourseError, match="`portMappings`"):
        docker_host.run_task("t9", fixed)
    assert containers.leftover_namespaces(lab_ws) == []
    assert docker_host.containers == {}
    assert "dnat" not in in_ns(instance_ns, "nft", "list", "table", "ip", "lab_docker").stdout
