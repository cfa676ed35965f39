"""The lab's life: up, down, status, rules; one supervisor process per workspace that follows the emulator.

    control.up()       start the supervisor (detached: it outlives the notebook's kernel); idempotent
    control.down()     stop it; every namespace, link, rule and process of the lab is removed
    control.status()   is it running, what it built, what it could not (and whether the lab can run here)
    control.rules(id)  a host's compiled rules next to the group rules they came from

The supervisor (``python -m helpers.lab.control.supervisor supervise``) looks at the emulator every ``POLL``
seconds, reads the model again when the emulator served a write that could change it (or every few
seconds: helpers/lab/changes.py), re-syncs namespaces and filters when the model's fingerprint
changes (so within 1 s of any change, whoever made it), keeps its state in ``<workspace>/lab/``, holds ``lab/supervisor.lock``
for its whole life (a second one is refused), and runs the *node programs* of ``NODE_PROGRAMS``
for its hosts as threads of its own (``Program``: ``serve(stop, log, **kwargs)``; ``Running``: its
thread, stop event and log ``lab/<role>-<id>.log``): an ALB node (helpers/lab/alb/node.py) per load
balancer subnet, an ECS agent (helpers/lab/ecs/agent.py) per instance, an ECS scheduler
(helpers/lab/ecs/scheduler.py) per cluster, and, once per lab, the DNS server (helpers/lab/net/dns.py).
One process, so boto3 and its service models are loaded once (one session per
emulator, helpers/runtime/aws.py), not once per node. The threads stay in the supervisor's own
network namespace, where the emulator answers on loopback, and open their sockets in the lab
namespace they serve (Netns.socket: a short thread of its own enters it and ends there) or build
there with child processes (Netns.ip, Netns.run: helpers/lab/net/netns.py): no supervisor thread ever
moves into a lab namespace, and no lab namespace gets a route to the host. A program whose arguments change is
restarted; one that fails is restarted (its traceback in its log); it is stopped when its host goes
away or the lab goes down.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO
from urllib.parse import urlsplit

from ... import workspace
from ...errors import CourseError
from ...runtime import aws, cloud, emulator, lab_machine, processes
from ...tf import certificate
from .. import changes, client, model
from ..alb import node as alb
from ..ecs import agent, containers, scheduler
from ..net import dns, filters, kernel, netns, sandbox
from ..net.netns import Netns

POLL = 0.25  # seconds between two looks at the emulator (re-sync within 1 s of a change)
# What model.read reads (instances, VPCs, subnets, groups, load balancers), and so which writes send it reading
# again (helpers/lab/changes.py): an Auto Scaling group launches and terminates instances.
MODEL_SERVICES = ("ec2", "elasticloadbalancing", "autoscaling")
HEARTBEAT = 1.0  # seconds between two writes of status.json when nothing changes
START_TIMEOUT = 60.0  # seconds up() waits for the first sync (about 1 s idle; several on a busy machine)
STOP_TIMEOUT = 10.0  # seconds down() waits for the supervisor to clean up before killing it
MAX_EMULATOR_DOWN = 15 * 60  # seconds without an emulator after which the supervisor removes the lab and ends
LAB_DIR = lab_machine.LAB_DIR


@dataclass(frozen=True)
class NodeContext:
    """What a node program's builder may use."""

    ws: str
    endpoint: str
    region: str


@dataclass(frozen=True)
class Program:
    """A node program: ``serve(stop, log, **kwargs)`` with its arguments, run as a thread of the supervisor.

    ``serve`` returns once ``stop`` (a threading.Event) is set; ``log(text)`` writes one line to the
    program's log. Two Programs are equal when they run the same function with the same arguments:
    a program whose arguments change is restarted."""

    serve: Callable[..., None]
    kwargs: tuple[tuple[str, object], ...]

    @classmethod
    def of(cls, serve: Callable[..., None], **kwargs) -> Program:
        return cls(serve, tuple(sorted(kwargs.items())))


@dataclass
class Running:
    """One program's thread, the event that stops it and its log file (``<workspace>/lab/<role>-<id>.log``)."""

    program: Program
    thread: threading.Thread
    stop: threading.Event
    log: IO[str]
    ended: float | None = None  # monotonic time the thread ended (by itself: an error, or it returned)
    restarts: int = 0


def _alb_node(ctx: NodeContext, host: model.Host) -> Program:
    """One ALB node: listens on its private address in its namespace (the public one is NAT in the router)."""
    return Program.of(
        alb.program,
        endpoint=ctx.endpoint,
        region=ctx.region,
        load_balancer=host.lb_arn,
        bind=host.private_ip,
        netns=kernel.host_ns(ctx.ws, host),
    )


@functools.lru_cache(maxsize=256)
def runs_ecs_agent(instance_id: str, endpoint: str, region: str) -> bool:
    """Does this instance run the ECS agent? Those booted from an ECS-optimized AMI do, as on AWS
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-optimized_AMI.html); others do not."""
    ec2 = aws.emulator_client("ec2", endpoint, region)
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    image_id = reservations[0]["Instances"][0]["ImageId"] if reservations else None
    images = ec2.describe_images(ImageIds=[image_id])["Images"] if image_id else []
    return bool(images) and "-ecs-" in images[0].get("Name", "")


def _ecs_agent(ctx: NodeContext, host: model.Host) -> Program | None:
    """The ECS agent of one instance: it builds what it runs in the instance's namespace through its Netns."""
    try:
        if not runs_ecs_agent(host.id, ctx.endpoint, ctx.region):
            return None
    except Exception:  # noqa: BLE001 - the emulator restarting: decided on the next poll
        return None
    return Program.of(
        agent.program,
        endpoint=ctx.endpoint,
        region=ctx.region,
        instance_id=host.id,
        namespace=kernel.host_ns(ctx.ws, host),
        address=host.private_ip,
        ws=ctx.ws,
    )


def _dns(ctx: NodeContext) -> Program:
    """The lab's DNS server, in the internet namespace, on the client's own address."""
    return Program.of(
        dns.program,
        endpoint=ctx.endpoint,
        region=ctx.region,
        netns=kernel.internet_ns(ctx.ws),
        bind=model.CLIENT_ADDRESS,
    )


# (role, builder): for every host of that role ("alb", "ec2"), builder(ctx, host) → Program or None.
# Each runs as a thread of the supervisor, in the supervisor's own namespaces (the emulator answers on
# the host's loopback), and opens its sockets in the lab namespace it serves (Netns.socket) or
# builds there with child processes (Netns.ip, Netns.run). Restarted when its arguments change or it
# ends by itself (an error: traceback in its log), stopped when its host goes away or the lab goes down.
NODE_PROGRAMS: list[tuple[str, Callable[[NodeContext, model.Host], Program | None]]] = [
    ("alb", _alb_node),
    ("ec2", _ecs_agent),
]
# (name, builder): once per lab, while it has hosts.
LAB_PROGRAMS: list[tuple[str, Callable[[NodeContext], Program | None]]] = [("dns", _dns)]


def _ecs_scheduler(ctx: NodeContext, cluster: str) -> Program:
    """ECS's service scheduler of one cluster: places tasks on its instances' agents, replaces, writes events."""
    return Program.of(scheduler.program, endpoint=ctx.endpoint, region=ctx.region, cluster=cluster)


# (name, builder): once per ECS cluster the lab follows (``Supervisor.clusters``, scheduler.clusters_to_run).
CLUSTER_PROGRAMS: list[tuple[str, Callable[[NodeContext, str], Program | None]]] = [("ecs", _ecs_scheduler)]
PROGRAM_STOP_TIMEOUT = 6.0  # seconds the supervisor waits for its programs to stop (all at once)
RESTART_DELAY = 1.0  # seconds between a program's end and its restart
SWITCH_INTERVAL = 0.0005  # seconds: the supervisor's sys.setswitchinterval (Python's default: 0.005)
CLUSTERS_EVERY = 1.0  # seconds between two reads of the ECS clusters the lab runs a scheduler for


def _file(name: str):
    folder = workspace.path(LAB_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _read(name: str) -> dict:
    try:
        return json.loads(_file(name).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write(name: str, data: dict) -> None:
    path = _file(name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def require_machine() -> None:
    verdict = lab_machine.check()
    if not verdict.ok:
        raise CourseError("The traffic lab cannot run on this machine.", verdict.detail, verdict.fix)


# ---------------------------------------------------------------- the API


def up(endpoint: str | None = None, *, vpcs: list[str] | None = None, quiet: bool = False) -> dict:
    """Start the lab (idempotent); returns status(). ``vpcs`` limits it to these VPCs (tests)."""
    require_machine()
    endpoint = endpoint or aws.endpoint_url()
    if not endpoint:
        raise CourseError(
            "The traffic lab runs only on the emulator.",
            "On real AWS the packets flow through AWS itself; the lab builds the emulator's network in this kernel.",
            "python -m helpers target emulator, then python -m helpers lab up",
        )
    _require_answering(endpoint)
    running = lab_machine.supervisor()
    if running:
        if running.get("endpoint") != endpoint or running.get("vpcs") != (vpcs or None):
            raise CourseError(
                "A lab already runs in this workspace, for another emulator or other VPCs.",
                f"One lab per workspace: the supervisor (pid {running['pid']}) follows {running.get('endpoint')}.",
                "python -m helpers lab down, then python -m helpers lab up",
            )
        return status()
    log = open(_file("supervisor.log"), "ab")
    argv = [sys.executable, "-m", "helpers.lab.control.supervisor", "supervise", "--endpoint", endpoint]
    for vpc in vpcs or []:
        argv += ["--vpc", vpc]
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace.root()), "PYTHONPATH": str(workspace.REPO)}
    if sandbox.needed():
        sandbox.ensure()
    proc = subprocess.Popen(
        netns.command(argv, cwd=workspace.REPO),  # rootless: nsenter execs, so proc.pid is the supervisor's
        cwd=workspace.REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,  # its own session: a kernel restart or Ctrl-C does not reach it
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        state = _read("status.json")
        if state.get("pid") == proc.pid and state.get("synced"):
            break
        if proc.poll() is not None:
            raise CourseError(
                "The lab's supervisor stopped at once.",
                _log_tail() or f"exit status {proc.returncode}",
                "python -m helpers lab status; python -m helpers lab down removes whatever it left",
            )
        time.sleep(0.1)
    else:
        raise CourseError(
            f"The lab did not finish its first sync within {START_TIMEOUT:.0f} s.",
            _log_tail() or "the emulator may be slow or down",
            "python -m helpers lab status (it keeps trying); python -m helpers lab down to stop it",
        )
    if not quiet:
        print(f"Lab up: {len(status().get('hosts', []))} hosts (pid {proc.pid}).")
    return status()


def _require_answering(endpoint: str) -> None:
    """One clear message, at once, when nothing answers at the emulator's address."""
    parts = urlsplit(endpoint)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=3):
            return
    except (OSError, ValueError):
        raise CourseError(
            f"Nothing answers at {endpoint}: the lab has no emulator to follow.",
            "The lab builds the network the emulator holds; that emulator is stopped or unreachable.",
            "python -m helpers emulator start, then python -m helpers lab up",
        ) from None


def down() -> list[str]:
    """Stop the supervisor and remove every namespace, link, rule and process the lab made; returns the names."""
    running = lab_machine.supervisor()
    if running:
        pid = running["pid"]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while processes.alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if processes.alive(pid):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
    removed = list(_read("status.json").get("removed_on_exit", [])) if running else []
    removed += kernel.remove_all(kernel.tag()) if lab_machine.check().ok and _reachable() else []
    if sandbox.needed():
        sandbox.stop()
    for name in (lab_machine.SUPERVISOR_FILE, "status.json"):
        _file(name).unlink(missing_ok=True)
    return removed


def _reachable() -> bool:
    """Can this process reach the lab's namespaces (as root, or through a running sandbox)?"""
    return not sandbox.needed() or sandbox.keeper() is not None


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status() -> dict:
    """What the lab is doing now (and, when it cannot run here, why and the fix)."""
    verdict = lab_machine.check()
    running = lab_machine.supervisor()
    state = _read("status.json") if running else {}
    return {
        "can_run": verdict.ok,
        "machine": verdict.detail,
        "fix": verdict.fix,
        "running": bool(running),
        "pid": running.get("pid"),
        "endpoint": running.get("endpoint"),
        "ws": kernel.tag(),
        "mode": ("rootless: a user namespace of its own (helpers/lab/net/sandbox.py)" if sandbox.needed() else "root")
        if verdict.ok
        else None,
        "namespaces": kernel.namespaces(kernel.tag()) if verdict.ok and _reachable() else [],
        **{k: state.get(k) for k in ("hosts", "errors", "programs", "synced_at", "emulator", "fingerprint")},
    }


def curl(
    url: str, source: str = "internet", *, timeout: float = 15.0, method: str = "GET", headers=None, insecure=False
):
    """One HTTP(S) request from ``source`` ("internet", an instance id or an ALB node), as curl -i shows it.

    The request is made by the lab's client running inside that namespace, so it takes the path a
    real request would: the lab's DNS, the router, the security groups, the load balancer. HTTPS
    verifies the certificate against the course's CA, which signs the lab's listener certificates
    (helpers/tf/certificate.py); ``insecure`` skips the check, as curl -k.
    """
    extra = [a for name, value in (headers or {}).items() for a in ("-H", f"{name}: {value}")]
    trust = ["--insecure"] if insecure else ["--cacert", str(certificate.authority_file())]
    argv = [sys.executable, "-m", "helpers.lab.client", url, "--json", "--timeout", str(timeout), "-X", method]
    argv += [*trust, *extra]
    env = {**os.environ, "PYTHONPATH": str(workspace.REPO)}
    net = place(source, "curl")
    done = net.exec(argv, cwd=workspace.REPO, env=env, capture_output=True, text=True, timeout=3 * timeout + 30)
    if done.returncode == 2 or not done.stdout.strip():
        raise CourseError(
            f"The lab's client could not send {method} {url}.",
            (done.stderr.strip().splitlines() or ["it printed nothing"])[-1],
            "check the URL (http:// or https://, a name the lab's DNS knows: lab status), then try again",
        )
    return client.Reply.from_dict(json.loads(done.stdout))


def place(source: str = "internet", command: str = "exec") -> Netns:
    """The namespace of ``source`` in the running lab: "internet", an instance id or an ALB node (lab status).

    ``command`` ("curl", "exec") names the lab command in the messages."""
    info = status()
    if not info["running"]:
        raise CourseError(
            f"The traffic lab is down, so lab {command} has nowhere to run.",
            "Requests and programs go through the lab's namespaces, which only exist while the lab runs.",
            "python -m helpers lab up   (in a notebook: lab.up())",
        )
    places = {"internet": kernel.internet_ns(info["ws"]), **{h["id"]: h["ns"] for h in info.get("hosts") or []}}
    if source not in places:
        raise CourseError(
            f"{source!r} is not a place in the lab.",
            f"lab {command} starts from the internet or from a lab host: {', '.join(sorted(places))}.",
            "python -m helpers lab status lists the hosts; name one with --from (default: internet)",
        )
    return Netns(places[source])


def status_text(info: dict | None = None) -> str:
    info = info or status()
    if not info["can_run"]:
        return f"✗ The traffic lab cannot run here: {info['machine']}\n  Fix: {info['fix']}"
    if not info["running"]:
        left = f" ({len(info['namespaces'])} namespaces left over: lab down removes them)" if info["namespaces"] else ""
        return f"The lab is down{left}. Start it: python -m helpers lab up"
    lines = [f"Lab up (supervisor pid {info['pid']}, following {info['endpoint']}; {info['emulator'] or ''})"]
    lines.append(f"  mode: {info['mode']}")
    for host in info.get("hosts") or []:
        public = f", public {host['public_ip']}" if host.get("public_ip") else ""
        lines.append(f"  {host['role']:<4} {host['id']}  {host['private_ip']}{public}  ns {host['ns']}")
    for host_id, error in (info.get("errors") or {}).items():
        lines.append(f"  ✗ {host_id}: everything dropped:\n    " + error.replace("\n", "\n    "))
    for program in info.get("programs") or []:
        now = "running" if program.get("alive") else "restarting"
        again = f", restarted {program['restarts']}x" if program.get("restarts") else ""
        lines.append(f"  program {program['role']} {program['host']}: thread {program['thread']}, {now}{again}")
    return "\n".join(lines)


def rules(host_id: str) -> str:
    """The host's compiled nftables rules next to the group rules they came from."""
    m = model.read()
    host = m.host(host_id)
    text = filters.listing(m, host)
    if host.role != "ec2" or not Netns(kernel.host_ns(kernel.tag(), host)).exists():
        return text
    mappings = containers.port_mappings(kernel.host_ns(kernel.tag(), host))
    lines = [f"  docker ({'table ip ' + containers.TABLE}: bridge-mode port mappings, after the filters above):"]
    lines += [
        f"    tcp {host.private_ip}:{one['host_port']} → {one['address']}:{one['container_port']}  dnat  ({one['container']})"
        for one in mappings
    ] or ["    (no container runs here)"]
    return "\n".join([text, *lines])


def _log_tail(lines: int = 12) -> str:
    try:
        return "\n".join(_file("supervisor.log").read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------- the supervisor


class Supervisor:
    """Follows the emulator: re-syncs the kernel when the model changes, runs the node programs as threads."""

    def __init__(self, endpoint: str, vpcs: list[str] | None):
        self.endpoint = endpoint
        self.vpcs = vpcs or None
        self.ws = kernel.tag()
        self.ctx = NodeContext(self.ws, endpoint, cloud.region())
        self.stopping = False
        self.fingerprint = None
        self.model: model.Model | None = None  # the last model read
        self.watch = changes.Watch(endpoint, MODEL_SERVICES)
        self.programs: dict[tuple[str, str], Running] = {}
        self.down_since = None
        self.clusters: list[str] = []  # the ECS clusters whose scheduler runs (CLUSTER_PROGRAMS)
        self.clusters_at = 0.0
        self.state = {"pid": os.getpid(), "synced": False, "errors": {}, "hosts": [], "programs": []}
        os.environ["AWS_ENDPOINT_URL"] = endpoint  # the supervisor never starts an emulator itself
        # Following the workspace's own emulator (not an AWS_ENDPOINT_URL given from outside)? Then a
        # restart on another port (its usual one taken meanwhile) is followed there.
        self.follows_workspace = emulator.own_status().get("url") == endpoint

    def _client(self, service: str):
        return aws.emulator_client(service, self.endpoint, self.ctx.region)

    def read(self) -> model.Model | None:
        try:
            m = model.read(self._client("ec2"), self._client("elbv2"))
        except Exception as error:  # emulator down or restarting: keep the lab, try again
            self.down_since = self.down_since or time.monotonic()
            self.state["emulator"] = f"emulator not answering ({type(error).__name__}); retrying"
            self._follow_a_moved_emulator()
            return None
        self.down_since = None
        self.state["emulator"] = "emulator answering"
        return m.only(self.vpcs) if self.vpcs else m

    def poll(self) -> model.Model | None:
        """The model, read again only when the emulator served a write that could change it (or every few
        seconds, helpers/lab/changes.py); None while the emulator does not answer."""
        self.watch.endpoint = self.endpoint  # it may have moved
        seen = self.watch.look()
        if self.model is not None and not self.watch.due(seen):
            return self.model
        self.model = self.read()
        if self.model is not None:
            self.watch.saw(seen)
        return self.model

    def _follow_a_moved_emulator(self) -> None:
        """The workspace's emulator answers at another URL now: follow it (the node programs restart with it)."""
        if not self.follows_workspace:
            return
        try:
            now = emulator.own_status()
        except Exception:  # noqa: BLE001 - its state file mid-write: the next poll looks again
            return
        if now["running"] and now["url"] and now["url"] != self.endpoint:
            print(f"the emulator moved: {self.endpoint} → {now['url']}; following it", flush=True)
            self.endpoint = now["url"]
            self.ctx = NodeContext(self.ws, self.endpoint, self.ctx.region)
            os.environ["AWS_ENDPOINT_URL"] = self.endpoint
            self.fingerprint = None  # re-sync from what the new emulator holds
            info = _read(lab_machine.SUPERVISOR_FILE)
            if info.get("pid") == os.getpid():
                _write(lab_machine.SUPERVISOR_FILE, {**info, "endpoint": self.endpoint})

    def sync(self, m: model.Model) -> None:
        wanted = self.wanted_programs(m)
        self._stop_programs(
            [k for k, r in self.programs.items() if wanted.get(k) != r.program]
        )  # before their host goes
        applied = kernel.apply(self.ws, m)
        self.fingerprint = m.fingerprint()
        self.state.update(
            synced=True,
            synced_at=time.time(),
            fingerprint=self.fingerprint,
            errors=applied.errors,
            hosts=[
                {
                    "id": h.id,
                    "role": h.role,
                    "private_ip": h.private_ip,
                    "public_ip": h.public_ip,
                    "ns": kernel.host_ns(self.ws, h),
                }  # fmt: skip
                for h in m.hosts
            ],
        )
        self.state["polled_at"] = time.time()
        _write("status.json", self.state)  # synced: lab up returns while the programs start
        self.sync_programs(m, wanted)

    def wanted_programs(self, m: model.Model) -> dict[tuple[str, str], Program]:
        wanted = {}
        for role, builder in NODE_PROGRAMS:
            for host in (h for h in m.hosts if h.role == role):
                if program := builder(self.ctx, host):
                    wanted[(role, host.id)] = program
        if m.hosts:
            for name, builder in LAB_PROGRAMS:
                if program := builder(self.ctx):
                    wanted[("lab", name)] = program
        for name, builder in CLUSTER_PROGRAMS:
            for cluster in self.clusters:
                if program := builder(self.ctx, cluster):
                    wanted[(name, cluster.rsplit("/", 1)[-1])] = program
        return wanted

    def sync_programs(self, m: model.Model, wanted: dict | None = None) -> None:
        """Start the programs the model wants; stop the others and those whose arguments changed;
        restart one that ended by itself (RESTART_DELAY s after)."""
        wanted = self.wanted_programs(m) if wanted is None else wanted
        now = time.monotonic()
        self._stop_programs([k for k, r in self.programs.items() if wanted.get(k) != r.program])
        for key, running in list(self.programs.items()):
            if not running.thread.is_alive() and now - (running.ended or now) >= RESTART_DELAY:
                running.log.close()
                del self.programs[key]
                self._start(key, running.program, restarts=running.restarts + 1)
        for key, program in wanted.items():
            if key not in self.programs:
                self._start(key, program)
        self.state["programs"] = [
            {"role": r, "host": h, "thread": one.thread.name, "alive": one.thread.is_alive(), "restarts": one.restarts}
            for (r, h), one in self.programs.items()
        ]

    def _start(self, key: tuple[str, str], program: Program, restarts: int = 0) -> None:
        log = open(_file(f"{key[0]}-{key[1]}.log"), "a", buffering=1)
        lock = threading.Lock()

        def write(text: str) -> None:
            with lock:
                if not log.closed:
                    log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

        stop = threading.Event()

        def body() -> None:
            try:
                program.serve(stop, write, **dict(program.kwargs))
                if not stop.is_set():
                    write(f"returned by itself; restarted in {RESTART_DELAY:g} s")
            except BaseException:  # noqa: BLE001 - its traceback to its log; the supervisor restarts it
                write(f"failed; restarted in {RESTART_DELAY:g} s:\n{traceback.format_exc()}")
            finally:
                running.ended = time.monotonic()

        thread = threading.Thread(target=body, name=f"lab-{key[0]}-{key[1]}", daemon=True)
        running = Running(program, thread, stop, log, restarts=restarts)
        self.programs[key] = running
        write(f"starting ({program.serve.__module__}.{program.serve.__name__})")
        thread.start()

    def _stop_programs(self, keys: list[tuple[str, str]]) -> None:
        """Stop these programs, all at once; wait for them (bounded) and forget them."""
        stopping = [self.programs.pop(key) for key in keys if key in self.programs]
        for running in stopping:
            running.stop.set()
        deadline = time.monotonic() + PROGRAM_STOP_TIMEOUT
        for running in stopping:
            running.thread.join(max(0.0, deadline - time.monotonic()))
            if running.thread.is_alive():  # left to end by itself (a daemon thread); its namespace goes anyway
                print(f"{running.thread.name} did not stop within {PROGRAM_STOP_TIMEOUT:g} s", flush=True)
            else:
                running.log.close()

    def read_clusters(self, m: model.Model) -> None:
        """The ECS clusters to run a scheduler for (scheduler.clusters_to_run), read every CLUSTERS_EVERY s."""
        now = time.monotonic()
        if now - self.clusters_at < CLUSTERS_EVERY:
            return
        self.clusters_at = now
        try:
            lab_instances = {h.id for h in m.hosts if h.role == "ec2"}
            self.clusters = scheduler.clusters_to_run(self._client("ecs"), lab_instances)
        except Exception as error:  # noqa: BLE001 - the emulator restarting: the next poll tries again
            self.state["clusters"] = f"not read ({type(error).__name__})"

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        last_write = 0.0
        try:
            while not self.stopping:
                began = time.monotonic()
                m = self.poll()
                changed = m is not None and (m.fingerprint() != self.fingerprint or self._namespaces_missing(m))
                if changed:
                    self.sync(m)
                elif m is not None:
                    self.sync_programs(m)  # restart a program that ended
                if changed or began - last_write >= HEARTBEAT:
                    self.state["polled_at"] = time.time()
                    _write("status.json", self.state)
                    last_write = began
                if m is not None:
                    self.read_clusters(m)
                if self.down_since and time.monotonic() - self.down_since > MAX_EMULATOR_DOWN:
                    print(f"emulator down for {MAX_EMULATOR_DOWN} s: removing the lab", flush=True)
                    break
                time.sleep(max(0.0, POLL - (time.monotonic() - began)))
        finally:
            self._stop_programs(list(self.programs))
            self.state["removed_on_exit"] = kernel.remove_all(self.ws)
            _write("status.json", self.state)
            _file(lab_machine.SUPERVISOR_FILE).unlink(missing_ok=True)
        return 0

    def _namespaces_missing(self, m: model.Model) -> bool:
        present = set(kernel.namespaces(self.ws))
        return any(kernel.host_ns(self.ws, h) not in present for h in m.hosts)


def supervise(endpoint: str, vpcs: list[str] | None = None) -> int:
    """The supervisor's main: refuses to run beside another one of this workspace."""
    lock = open(_file("supervisor.lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(
            CourseError(
                "A lab already runs in this workspace.",
                f"Its supervisor (pid {_read(lab_machine.SUPERVISOR_FILE).get('pid')}) holds {LAB_DIR}/supervisor.lock; "
                "two labs would fight over the same namespaces.",
                "python -m helpers lab status (or lab down, then lab up)",
            ).render(),
            file=sys.stderr,
        )
        return 1
    _write(
        lab_machine.SUPERVISOR_FILE,
        {"pid": os.getpid(), "endpoint": endpoint, "vpcs": vpcs or None, "started": time.time()},
    )
    # Many threads, one GIL: a thread waiting on a socket gets the GIL back within this, not the default 5 ms,
    # while another parses an emulator answer (the ALB nodes' latency and throughput).
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        return Supervisor(endpoint, vpcs).run()
    finally:
        lock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.lab.control.supervisor")
    sub = parser.add_subparsers(dest="action", required=True)
    sp = sub.add_parser("supervise", help="(internal) the lab's supervisor, started by lab up")
    sp.add_argument("--endpoint", required=True)
    sp.add_argument("--vpc", action="append", default=None, help="only these VPCs (tests)")
    args = parser.parse_args(argv)
    return supervise(args.endpoint, args.vpc)


if __name__ == "__main__":
    sys.exit(main())
