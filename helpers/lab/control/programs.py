"""The lab's programs: what runs for each host (an ALB node, an ECS agent), once per ECS cluster (its
scheduler) and once per lab (the DNS server), as threads of the supervisor.

``Program``: ``serve(stop, log, **kwargs)`` with its arguments; ``Running``: its thread, stop event and log
``lab/<role>-<id>.log``; ``Programs``: the running ones, started, restarted and stopped as the model wants.
The registry is three plain lists: ``NODE_PROGRAMS`` (role, builder) for every host of that role,
``LAB_PROGRAMS`` (name, builder) once per lab and ``CLUSTER_PROGRAMS`` (name, builder) once per ECS cluster the
lab follows (the ECS scheduler); a new program is one line in one of them.

Each runs as a thread of the supervisor, in the supervisor's own namespaces (the emulator answers on the host's
loopback), and opens its sockets in the lab namespace it serves (Netns.socket) or builds there with child
processes (Netns.ip, Netns.run: helpers/lab/net/netns.py): no thread ever moves into a lab namespace. A program
whose arguments change is restarted; one that ends by itself (an error: its traceback in its log) is restarted
``RESTART_DELAY`` s after; one whose host goes away, or all when the lab goes down, is stopped.
"""

from __future__ import annotations

import functools
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from ...runtime import aws
from .. import model
from ..alb import node as alb
from ..ecs import agent, scheduler
from ..net import dns, kernel
from . import state

PROGRAM_STOP_TIMEOUT = 6.0  # seconds the supervisor waits for its programs to stop (all at once)
RESTART_DELAY = 1.0  # seconds between a program's end and its restart


@dataclass(frozen=True)
class NodeContext:
    """What a program's builder may use."""

    ws: str
    endpoint: str
    region: str


@dataclass(frozen=True)
class Program:
    """A program: ``serve(stop, log, **kwargs)`` with its arguments, run as a thread of the supervisor.

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


# ---------------------------------------------------------------- the builders


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
    except Exception:  # noqa: BLE001 - the emulator restarting: decided on the next sync
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


# ---------------------------------------------------------------- the registry

# (role, builder): for every host of that role ("alb", "ec2"), builder(ctx, host) -> Program or None.
NODE_PROGRAMS: list[tuple[str, Callable[[NodeContext, model.Host], Program | None]]] = [
    ("alb", _alb_node),
    ("ec2", _ecs_agent),
]
# (name, builder): once per lab, while it has hosts.
LAB_PROGRAMS: list[tuple[str, Callable[[NodeContext], Program | None]]] = [
    ("dns", _dns),
]


def _ecs_scheduler(ctx: NodeContext, cluster: str) -> Program:
    """ECS's service scheduler of one cluster: places tasks on its instances' agents, replaces, writes events."""
    return Program.of(scheduler.program, endpoint=ctx.endpoint, region=ctx.region, cluster=cluster)


# (name, builder): once per ECS cluster the lab follows (the supervisor's clusters: scheduler.clusters_to_run).
CLUSTER_PROGRAMS: list[tuple[str, Callable[[NodeContext, str], Program | None]]] = [
    ("ecs", _ecs_scheduler),
]


def wanted(ctx: NodeContext, m: model.Model, clusters: list[str] = ()) -> dict[tuple[str, str], Program]:
    """The programs the model wants, by (role, host id), ("lab", name) or (name, cluster name)."""
    out = {}
    for role, builder in NODE_PROGRAMS:
        for host in (h for h in m.hosts if h.role == role):
            if program := builder(ctx, host):
                out[(role, host.id)] = program
    if m.hosts:
        for name, builder in LAB_PROGRAMS:
            if program := builder(ctx):
                out[("lab", name)] = program
    for name, builder in CLUSTER_PROGRAMS:
        for cluster in clusters:
            if program := builder(ctx, cluster):
                out[(name, cluster.rsplit("/", 1)[-1])] = program
    return out


# ---------------------------------------------------------------- running them


class Programs:
    """The running programs, by key: started, restarted after they end by themselves, stopped."""

    def __init__(self) -> None:
        self.running: dict[tuple[str, str], Running] = {}

    def follow(self, wanted: dict[tuple[str, str], Program]) -> None:
        """Start the wanted programs; stop the others and those whose arguments changed; restart one that
        ended by itself (RESTART_DELAY s after)."""
        now = time.monotonic()
        self.stop([k for k, r in self.running.items() if wanted.get(k) != r.program])
        for key, running in list(self.running.items()):
            if not running.thread.is_alive() and now - (running.ended or now) >= RESTART_DELAY:
                running.log.close()
                del self.running[key]
                self.start(key, running.program, restarts=running.restarts + 1)
        for key, program in wanted.items():
            if key not in self.running:
                self.start(key, program)

    def report(self) -> list[dict]:
        return [
            {"role": r, "host": h, "thread": one.thread.name, "alive": one.thread.is_alive(), "restarts": one.restarts}
            for (r, h), one in self.running.items()
        ]

    def start(self, key: tuple[str, str], program: Program, restarts: int = 0) -> None:
        log = open(state.path(f"{key[0]}-{key[1]}.log"), "a", buffering=1)
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
        self.running[key] = running
        write(f"starting ({program.serve.__module__}.{program.serve.__name__})")
        thread.start()

    def stop(self, keys: list[tuple[str, str]]) -> None:
        """Stop these programs, all at once; wait for them (bounded) and forget them."""
        stopping = [self.running.pop(key) for key in keys if key in self.running]
        for running in stopping:
            running.stop.set()
        deadline = time.monotonic() + PROGRAM_STOP_TIMEOUT
        for running in stopping:
            running.thread.join(max(0.0, deadline - time.monotonic()))
            if running.thread.is_alive():  # left to end by itself (a daemon thread); its namespace goes anyway
                print(f"{running.thread.name} did not stop within {PROGRAM_STOP_TIMEOUT:g} s", flush=True)
            else:
                running.log.close()
