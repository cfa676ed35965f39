"""The lab's supervisor: one process per workspace that follows the emulator and runs the lab's programs.

    python -m helpers.lab.control.supervisor supervise --endpoint URL [--vpc VPC...]   (started by lab up)

It waits on the emulator's long-poll (``GET /_course/changes?after=N&wait=S``, helpers/lab/changes.py's Feed):
the emulator answers as soon as a write is done, with the kinds of resources written. When one could change the
network (``MODEL_SERVICES``), or the emulator cannot say, the supervisor reads the model again
(helpers/lab/model.py) and, if its fingerprint changed, brings the kernel to it: when the namespaces, links and
addresses are as they were (``Model.topology``), it compiles again only the filters of the hosts whose
``Model.host_fingerprint`` changed (a group's rule, its members); otherwise everything (helpers/lab/net/kernel.py).
It then tells whoever waits on its sync socket (``lab/sync.sock``: commands.wait_synced, lab.curl and
lab.connect through it) that its kernel has the emulator's writes up to that answer's number. Without a write it
still answers every ``WAIT`` seconds: it restarts a program that ended and rewrites ``lab/status.json``.

It holds ``lab/supervisor.lock`` for its whole life (a second one is refused), runs the programs of
programs.py as threads of its own (an ALB node per load balancer subnet, an ECS agent per instance, an ECS
scheduler per cluster with an instance in the lab or none, the DNS server; one process: botocore's service models
are loaded once, helpers/runtime/aws.py), reads the clusters every ``CLUSTERS_EVERY`` s, follows the
workspace's emulator to a new port when it restarts on one, and removes the lab after ``MAX_EMULATOR_DOWN``
seconds without an emulator. No supervisor thread moves into a lab namespace, and no lab namespace gets a route
to the host.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import sys
import threading
import time

from ...errors import CourseError
from ...runtime import aws, cloud, emulator, lab_machine
from .. import changes, model
from ..ecs import scheduler
from ..net import kernel
from . import programs, state

# What model.read reads (instances, VPCs, subnets, groups, load balancers), and so which writes send it reading
# again: an Auto Scaling group launches and terminates instances.
MODEL_SERVICES = ("ec2", "elasticloadbalancing", "autoscaling")
# Writes that change only security groups' rules: after those alone the groups are described again, nothing else
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Operations.html).
RULE_OPERATIONS = frozenset(
    f"ec2:{name}"
    for name in (
        "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress", "ModifySecurityGroupRules", "UpdateSecurityGroupRuleDescriptionsIngress",
        "UpdateSecurityGroupRuleDescriptionsEgress",
    )
)  # fmt: skip
WAIT = 1.0  # seconds a long-poll waits for a write; then the heartbeat (status.json, programs restarted)
RETRY = 0.25  # seconds between two tries while the emulator does not answer
MAX_EMULATOR_DOWN = 15 * 60  # seconds without an emulator after which the supervisor removes the lab and ends
SWITCH_INTERVAL = 0.0005  # seconds: the supervisor's sys.setswitchinterval (Python's default: 0.005)
CLUSTERS_EVERY = 1.0  # seconds between two reads of the ECS clusters the lab runs a scheduler for
MAX_SYNC_WAIT = 120.0  # seconds a caller may wait on the sync socket at most
SYNC_WAITERS = 32  # callers waiting on the sync socket at once, at most (more are refused)


class Synced:
    """Up to which emulator write (boot, seq) the kernel is built, and the callers waiting for one."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.boot: str | None = None
        self.seq = -1
        self.fingerprint: str | None = None

    def mark(self, boot: str, seq: int, fingerprint: str | None) -> None:
        with self.changed:
            self.boot, self.seq, self.fingerprint = boot, seq, fingerprint
            self.changed.notify_all()

    def wait(self, boot: str, seq: int, timeout: float) -> dict:
        """Once the kernel has the writes of ``boot`` up to ``seq`` (or ``timeout`` s): where it is."""
        with self.changed:
            done = self.changed.wait_for(lambda: self.boot == boot and self.seq >= seq, timeout=timeout)
            return {"synced": done, "boot": self.boot, "seq": self.seq, "fingerprint": self.fingerprint}

    def serve(self, stopping: threading.Event) -> None:
        """Answer the sync socket until ``stopping``: a caller sends {"boot", "seq", "wait"} as one JSON line and
        gets ``wait()``'s answer as one (commands.wait_synced)."""
        slots = threading.BoundedSemaphore(SYNC_WAITERS)
        with state.socket_address(state.SYNC_SOCKET) as address, socket.socket(socket.AF_UNIX) as server:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(address)
            server.bind(address)
            server.listen(SYNC_WAITERS)
            server.settimeout(0.2)  # looks at ``stopping`` this often
            while not stopping.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                if not slots.acquire(blocking=False):
                    conn.close()
                    continue
                threading.Thread(target=self._answer, args=(conn, slots), daemon=True, name="lab-sync").start()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(address)

    def _answer(self, conn: socket.socket, slots: threading.BoundedSemaphore) -> None:
        try:
            with conn:
                conn.settimeout(2.0)
                asked = json.loads(conn.makefile("rb").readline(1024))
                seconds = min(max(float(asked["wait"]), 0.0), MAX_SYNC_WAIT)
                answer = self.wait(str(asked["boot"]), int(asked["seq"]), seconds)
                conn.sendall(json.dumps(answer).encode() + b"\n")
        except (OSError, ValueError, KeyError, TypeError):
            pass  # the caller went away or asked nonsense: it gets no answer and says so itself
        finally:
            slots.release()


class Supervisor:
    """Follows the emulator: re-syncs the kernel when the model changes, runs the programs as threads."""

    def __init__(self, endpoint: str, vpcs: list[str] | None):
        self.endpoint = endpoint
        self.vpcs = vpcs or None
        self.ws = kernel.tag()
        self.ctx = programs.NodeContext(self.ws, endpoint, cloud.region())
        self.stopping = False
        self.fingerprint = None
        self.model: model.Model | None = None  # the last model read
        self.applied: model.Model | None = None  # the model the kernel was last built from
        self.read_at = 0.0  # monotonic time of the last read
        self.feed = changes.Feed(endpoint)
        self.synced = Synced()
        self.programs = programs.Programs()
        self.down_since = None
        self.clusters: list[str] = []  # the ECS clusters whose scheduler runs (programs.CLUSTER_PROGRAMS)
        self.clusters_at = 0.0
        self.beat_at = 0.0  # monotonic time of the last heartbeat (status.json written, namespaces checked)
        self.state = {"pid": os.getpid(), "synced": False, "errors": {}, "hosts": [], "programs": []}
        os.environ["AWS_ENDPOINT_URL"] = endpoint  # the supervisor never starts an emulator itself
        # Following the workspace's own emulator (not an AWS_ENDPOINT_URL given from outside)? Then a
        # restart on another port (its usual one taken meanwhile) is followed there.
        self.follows_workspace = emulator.own_status().get("url") == endpoint

    def _client(self, service: str):
        return aws.emulator_client(service, self.endpoint, self.ctx.region)

    def read(self, rules_only: bool = False) -> model.Model | None:
        """The model read again (``rules_only``: the last one with its groups described again); None while the
        emulator does not answer."""
        rules_only = rules_only and self.model is not None
        began = time.monotonic()
        try:
            if rules_only:
                m = model.with_groups_read(self.model, self._client("ec2"))
            else:
                m = model.read(self._client("ec2"), self._client("elbv2"))
        except Exception as error:  # emulator down or restarting: keep the lab, try again
            self.down_since = self.down_since or time.monotonic()
            self.state["emulator"] = f"emulator not answering ({type(error).__name__}); retrying"
            self._follow_a_moved_emulator()
            return None
        self.down_since = None
        self.state["emulator"] = "emulator answering"
        if not rules_only:
            self.read_at = began
        return m.only(self.vpcs) if self.vpcs else m

    def follow(self, news: changes.News | None) -> model.Model | None:
        """The model after this answer of the emulator: read again when a write could have changed it, the
        emulator cannot say, or ``changes.EVERY`` s passed (moto changes a few things on reads alone)."""
        stale = time.monotonic() - self.read_at >= changes.EVERY
        if news is None or self.model is None or stale:
            self.model = self.read()
        elif news.touches(MODEL_SERVICES):
            self.model = self.read(rules_only=news.only(MODEL_SERVICES, RULE_OPERATIONS))
        return self.model

    def _follow_a_moved_emulator(self) -> None:
        """The workspace's emulator answers at another URL now: follow it (the programs restart with it)."""
        if not self.follows_workspace:
            return
        try:
            now = emulator.own_status()
        except Exception:  # noqa: BLE001 - its state file mid-write: the next try looks again
            return
        if now["running"] and now["url"] and now["url"] != self.endpoint:
            print(f"the emulator moved: {self.endpoint} → {now['url']}; following it", flush=True)
            self.endpoint = self.feed.endpoint = now["url"]
            self.ctx = programs.NodeContext(self.ws, self.endpoint, self.ctx.region)
            os.environ["AWS_ENDPOINT_URL"] = self.endpoint
            self.fingerprint = self.applied = None  # re-sync from what the new emulator holds
            info = state.read(lab_machine.SUPERVISOR_FILE)
            if info.get("pid") == os.getpid():
                state.write(lab_machine.SUPERVISOR_FILE, {**info, "endpoint": self.endpoint})

    def sync(self, m: model.Model) -> None:
        wanted = programs.wanted(self.ctx, m, self.clusters)
        self.programs.stop([k for k, r in self.programs.running.items() if wanted.get(k) != r.program])  # first
        errors = self._build(m)
        self.fingerprint = m.fingerprint()
        self.state.update(
            synced=True,
            synced_at=time.time(),
            fingerprint=self.fingerprint,
            errors=errors,
            hosts=[
                {"id": h.id, "role": h.role, "private_ip": h.private_ip, "public_ip": h.public_ip,
                 "ns": kernel.host_ns(self.ws, h)}
                for h in m.hosts
            ],
        )  # fmt: skip
        state.write(state.STATUS, self.state)  # synced: lab up returns while the programs start
        self.sync_programs(m, wanted)

    def _build(self, m: model.Model) -> dict[str, str]:
        """The kernel brought to ``m``: only the touched hosts' filters when nothing else changed. The hosts it
        could not filter, with why."""
        before, self.applied = self.applied, m
        if before is None or before.topology() != m.topology() or self._namespaces_missing(m):
            self.state["rebuilt"] = "all"
            return kernel.apply(self.ws, m).errors
        touched = [h for h in m.hosts if before.host_fingerprint(h.id) != m.host_fingerprint(h.id)]
        self.state["rebuilt"] = [h.id for h in touched]
        kept = {i: e for i, e in (self.state.get("errors") or {}).items() if i not in {h.id for h in touched}}
        return {**kept, **kernel.refilter(self.ws, m, touched).errors}

    def sync_programs(self, m: model.Model, wanted: dict | None = None) -> None:
        """Start the programs the model wants; stop the others and those whose arguments changed; restart one
        that ended by itself."""
        self.programs.follow(programs.wanted(self.ctx, m, self.clusters) if wanted is None else wanted)
        self.state["programs"] = self.programs.report()

    def read_clusters(self, m: model.Model) -> None:
        """The ECS clusters to run a scheduler for (scheduler.clusters_to_run), read every CLUSTERS_EVERY s."""
        now = time.monotonic()
        if now - self.clusters_at < CLUSTERS_EVERY:
            return
        self.clusters_at = now
        try:
            lab_instances = {h.id for h in m.hosts if h.role == "ec2"}
            self.clusters = scheduler.clusters_to_run(self._client("ecs"), lab_instances)
        except Exception as error:  # noqa: BLE001 - the emulator restarting: the next round tries again
            self.state["clusters"] = f"not read ({type(error).__name__})"

    def step(self) -> bool:
        """One round: wait for the emulator's next writes (at most WAIT s), follow them. False: stop (the
        emulator has been away too long)."""
        news = self.feed.next(WAIT)
        m = self.follow(news)
        began = time.monotonic()
        beat = began - self.beat_at >= WAIT  # at most once a WAIT, however many writes the emulator serves
        changed = m is not None and (m.fingerprint() != self.fingerprint or (beat and self._namespaces_missing(m)))
        if m is None:
            time.sleep(RETRY)
        elif changed:
            self.sync(m)
        else:
            self.sync_programs(m)  # restart a program that ended
        if m is not None and news is not None:
            self.synced.mark(news.boot, news.seq, self.fingerprint)
            self.read_clusters(m)
        if changed or beat:
            self.beat_at = began
            self.state["polled_at"] = time.time()
            state.write(state.STATUS, self.state)
        if self.down_since and time.monotonic() - self.down_since > MAX_EMULATOR_DOWN:
            print(f"emulator down for {MAX_EMULATOR_DOWN} s: removing the lab", flush=True)
            return False
        return True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        ended = threading.Event()
        answering = threading.Thread(target=self.synced.serve, args=(ended,), daemon=True, name="lab-sync-socket")
        answering.start()
        try:
            while not self.stopping and self.step():
                pass
        finally:
            ended.set()
            self.programs.stop(list(self.programs.running))
            self.state["removed_on_exit"] = kernel.remove_all(self.ws)
            state.write(state.STATUS, self.state)
            state.path(lab_machine.SUPERVISOR_FILE).unlink(missing_ok=True)
            answering.join(1.0)
        return 0

    def _namespaces_missing(self, m: model.Model) -> bool:
        present = set(kernel.namespaces(self.ws))
        return any(kernel.host_ns(self.ws, h) not in present for h in m.hosts)


def supervise(endpoint: str, vpcs: list[str] | None = None) -> int:
    """The supervisor's main: refuses to run beside another one of this workspace."""
    lock = open(state.path(state.LOCK), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(
            CourseError(
                "A lab already runs in this workspace.",
                f"Its supervisor (pid {state.read(lab_machine.SUPERVISOR_FILE).get('pid')}) holds "
                f"{state.LAB_DIR}/{state.LOCK}; two labs would fight over the same namespaces.",
                "python -m helpers lab status (or lab down, then lab up)",
            ).render(),
            file=sys.stderr,
        )
        return 1
    state.write(
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
