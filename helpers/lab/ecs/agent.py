"""The ECS container agent of one EC2 instance: the lab's stand-in, one per instance.

    agent.program(stop, log, endpoint=URL, region=R, instance_id="i-...", namespace="lab-<ws>-ec2-i-...",
                  address="10.0.1.23", ws=WS)
    python -m helpers.lab.ecs.agent --endpoint URL --region R \\
        --instance-id i-... --namespace lab-<ws>-ec2-i-<id> --address 10.0.1.23

A thread of the lab's supervisor (helpers/lab/control/supervisor.py) until ``stop`` is set, or a process of its
own (tests) until SIGTERM. Either stays in the host's network namespace, where the emulator answers on loopback
(no lab namespace may reach it), and builds in the instance's namespace with child processes (its ``Netns``,
helpers/lab/net/netns.py). Which task runs where is the cluster's scheduler's decision
(helpers/lab/ecs/scheduler.py), handed over through ECS's own state, as ECS does; the agent runs what it is given:

1. **Which cluster**: ``ECS_CLUSTER=...`` in the instance's user data (the line the launch template's script
   writes into /etc/ecs/ecs.config); without it ``default``, created if missing; a named cluster that is
   missing is an error the agent keeps retrying, as the real agent does
   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-agent-config.html; github.com/aws/
   amazon-ecs-agent ecs-agent/api/ecs/client/ecs_client.go: "we should try to create the default").
2. **Registers the container instance** with the instance identity document; re-uses its registration when it
   restarts, and stops the tasks ECS still shows RUNNING there that no process runs, as the agent reconciles.
3. **Starts the tasks placed on it** (``PENDING`` on its ``containerInstanceArn``): their containers
   (helpers/lab/ecs/containers.py), then ``RUNNING`` with ``networkBindings`` (the host ports chosen), as the
   agent reports them (SubmitTaskStateChange), then each load-balanced container's (instance id, host port) in
   its target group, handed first to the lab's health checks (``health.claim``): ``initial`` until a check
   passes, as on AWS, not moto's instant ``healthy``.
   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-load-balancing.html
4. **Drains and stops**: a task the scheduler stopped (``desiredStatus`` STOPPED, ``DEACTIVATING``) has its
   targets deregistered (``draining`` for the group's ``deregistration_delay.timeout_seconds``), then its
   containers stop and ECS hears it (``stop_task`` with the scheduler's ``stoppedReason``). A task whose
   essential container exits is stopped at once; the scheduler replaces it.
   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html

``stop`` set (or SIGTERM): its tasks' targets are deregistered, their containers stopped (SIGTERM, then SIGKILL
after the bound), and it returns (the process exits 0).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from ... import workspace
from ...errors import CourseError
from ...runtime import aws
from .. import changes
from ..alb import health
from . import cgroups, containers, events

DEFAULT_CLUSTER = "default"
POLL = 1.0  # seconds between two looks: a pass runs when something it acts on changed (``Agent.pass_due``)
# The writes it acts on: tasks placed or stopped (ecs), target groups, instances coming and going.
WATCHED = ("ecs", "elasticloadbalancing", "ec2", "autoscaling")
DEFAULT_DEREGISTRATION_DELAY = 300  # ELB's default deregistration_delay.timeout_seconds
AGENT_VERSION = "1.0.0-lab"
SHUTDOWN_TIMEOUT = 3.0  # seconds a container gets to stop when the lab stops the agent (then SIGKILL)
_CLUSTER_LINE = re.compile(r"""(?m)^[^#\n]*\bECS_CLUSTER=["']?([A-Za-z0-9_\-]+)""")


def cluster_from_user_data(user_data: str) -> str:
    """ECS_CLUSTER from an instance's user data (base64, as EC2 returns it), or "default"."""
    text = user_data or ""
    for _ in range(3):  # EC2 returns base64; a script base64-encoded twice (boto3 encodes UserData itself) too
        match = _CLUSTER_LINE.search(text)
        if match:
            return match.group(1)
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            break  # plain text without the line
    return DEFAULT_CLUSTER


@dataclass
class RunningTask:
    arn: str
    service: str
    definition_arn: str
    containers: list
    started: float
    targets: list = field(default_factory=list)  # [(target group arn, port)]
    draining_until: float | None = None  # set when its targets were deregistered
    stop_reason: str = ""  # ECS's stoppedReason, once the scheduler stopped it

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    def status(self) -> dict:
        return {"service": self.service, "ports": [p for _, p in self.targets], "draining": bool(self.draining_until)}


class Agent:
    def __init__(
        self,
        endpoint: str,
        region: str,
        instance_id: str,
        namespace: str,
        address: str,
        *,
        ws: str | None = None,
        workdir: Path | None = None,
        poll: float = POLL,
        stop_timeout: float = containers.STOP_TIMEOUT,
        shutdown_timeout: float | None = None,
        log=None,
    ):
        self.endpoint, self.region, self.instance_id = endpoint, region, instance_id
        self.poll, self.stop_timeout = poll, stop_timeout
        self.shutdown_timeout = stop_timeout if shutdown_timeout is None else shutdown_timeout
        self.log = log or (lambda text: None)
        self.workdir = Path(workdir or workspace.path("lab"))
        self.host = containers.DockerHost(namespace, address, ws=ws, workdir=self.workdir)
        # Always the emulator (``endpoint``), through the lab's shared session: short timeouts, one retry.
        self.ecs, self.ec2, self.elbv2 = (
            aws.emulator_client(name, endpoint, region) for name in ("ecs", "ec2", "elbv2")
        )
        self.cluster: str | None = None
        self.container_instance: str | None = None
        self.tasks: dict[str, RunningTask] = {}
        self.problems: dict[str, str] = {}  # what it could not start: key -> message (reported once)
        self.unstopped: dict[str, str] = {}  # task arn -> reason: its containers stopped, ECS not told yet (retried)
        self.stop_event = threading.Event()  # set: the agent stops its tasks and returns (SIGTERM sets it too)
        self.watch = changes.Watch(endpoint, WATCHED)
        self.passed_at: float | None = None  # when the last pass ran (time.monotonic)

    # -- 1. and 2. -----------------------------------------------------------

    def read_cluster(self) -> str:
        answer = self.ec2.describe_instance_attribute(InstanceId=self.instance_id, Attribute="userData")
        value = (answer.get("UserData") or {}).get("Value", "") if isinstance(answer.get("UserData"), dict) else ""
        return cluster_from_user_data(value)

    def identity_document(self) -> dict:
        """What the agent reads from IMDS (/latest/dynamic/instance-identity/document)."""
        reservation = self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"][0]
        instance = reservation["Instances"][0]
        return {
            "instanceId": self.instance_id,
            "region": self.region,
            "availabilityZone": instance.get("Placement", {}).get("AvailabilityZone", ""),
            "accountId": reservation.get("OwnerId", ""),
            "instanceType": instance.get("InstanceType", ""),
            "imageId": instance.get("ImageId", ""),
            "privateIp": instance.get("PrivateIpAddress", ""),
            "architecture": instance.get("Architecture", "x86_64"),
        }

    def register(self) -> str:
        """Register this instance in its cluster (re-using an earlier registration); returns the ARN."""
        configured = self.read_cluster()
        clusters = self.ecs.describe_clusters(clusters=[configured]).get("clusters", [])
        if not any(c.get("status") == "ACTIVE" for c in clusters):
            if configured != DEFAULT_CLUSTER:
                raise CourseError(
                    f"The ECS agent on {self.instance_id} cannot join cluster {configured!r}: it does not exist.",
                    "The instance's user data sets ECS_CLUSTER to a cluster ECS does not have.",
                    "create the cluster (aws_ecs_cluster) or correct ECS_CLUSTER in the launch template's user_data.",
                )
            self.ecs.create_cluster(clusterName=DEFAULT_CLUSTER)  # as the real agent does for "default"
        self.cluster = configured
        existing = self.ecs.list_container_instances(cluster=configured).get("containerInstanceArns", [])
        if existing:
            for described in self.ecs.describe_container_instances(cluster=configured, containerInstances=existing)[
                "containerInstances"
            ]:
                if described.get("ec2InstanceId") == self.instance_id:
                    self.container_instance = described["containerInstanceArn"]
                    self._forget_orphans()
                    return self.container_instance
        low, high = self.host.port_range()
        answer = self.ecs.register_container_instance(
            cluster=configured,
            instanceIdentityDocument=json.dumps(self.identity_document()),
            instanceIdentityDocumentSignature="",
            versionInfo={"agentVersion": AGENT_VERSION, "agentHash": "lab", "dockerVersion": "lab"},
            totalResources=[
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375", "2376", "51678", "51679"]},
            ],
            attributes=[{"name": "ecs.lab.host-port-range", "value": f"{low}-{high}"}],
        )
        self.container_instance = answer["containerInstance"]["containerInstanceArn"]
        return self.container_instance

    def _forget_orphans(self) -> None:
        """An earlier run of this agent left tasks RUNNING, or DEACTIVATING (stopped by ECS, their targets
        draining), that no process runs now: stop them, as the real agent reconciles its state when it reconnects."""
        orphans = []
        for desired in ("RUNNING", "STOPPED"):
            orphans += self.ecs.list_tasks(
                cluster=self.cluster, containerInstance=self.container_instance, desiredStatus=desired
            ).get("taskArns", [])
        for task in self._describe([arn for arn in orphans if arn not in self.tasks]):
            if task.get("lastStatus") in ("RUNNING", "DEACTIVATING"):  # PENDING: placed here, to be started
                self.ecs.stop_task(cluster=self.cluster, task=task["taskArn"], reason="The lab's ECS agent restarted")

    # -- 3. and 4. one pass --------------------------------------------------

    def event(self, service: str, message: str | None = None, **fields) -> None:
        body = {"region": self.region, "cluster": self.cluster, "service": service, **fields}
        if message:
            body["message"] = message
        events.post(self.endpoint, body)

    def _describe(self, arns: list[str]) -> list[dict]:
        found = []
        for start in range(0, len(arns), 100):  # describe_tasks takes at most 100
            found += self.ecs.describe_tasks(cluster=self.cluster, tasks=arns[start : start + 100])["tasks"]
        return found

    def _still_registered(self) -> bool:
        arns = self.ecs.list_container_instances(cluster=self.cluster, status="ACTIVE")["containerInstanceArns"]
        return self.container_instance in arns

    def step(self) -> None:
        """One pass: stop what the scheduler stopped or what exited, start what it placed here, end drains."""
        now = time.monotonic()
        self._tell_stopped()
        if not self._still_registered():
            self._rejoin()
        for task in self._describe(sorted(a for a, t in self.tasks.items() if t.draining_until is None)):
            if task.get("desiredStatus") == "STOPPED" and task["taskArn"] in self.tasks:
                self._drain(self.tasks[task["taskArn"]], now, task.get("stoppedReason") or "")
        self._reap_exited()
        placed = self.ecs.list_tasks(
            cluster=self.cluster, containerInstance=self.container_instance, desiredStatus="RUNNING"
        )["taskArns"]
        for task in self._describe([arn for arn in placed if arn not in self.tasks]):
            if task.get("lastStatus") == "PENDING":
                self._start(task)
        self._finish_draining(now)

    def _rejoin(self) -> None:
        """The emulator restarted (its state is gone), or someone deregistered this instance: the tasks it ran
        belong to no ECS any more. Stop their containers, then join again. (ECS deregisters an orphaned
        service task's targets and replaces the task: API_DeregisterContainerInstance.)"""
        for task in list(self.tasks.values()):
            for container in reversed(task.containers):
                self.host.stop(container, timeout=self.stop_timeout)
            self.tasks.pop(task.arn, None)
            try:
                self._deregister(task)
                self.ecs.stop_task(cluster=self.cluster, task=task.arn, reason="Container instance deregistered")
            except Exception:  # noqa: BLE001 - an emulator that restarted has neither the targets nor the task
                pass
        self.container_instance = None
        self.register()

    def _start(self, described: dict) -> None:
        """Run a task the scheduler placed here: its containers, RUNNING with its bindings, its targets."""
        arn, group = described["taskArn"], described.get("group", "")
        name = group.split(":", 1)[1] if group.startswith("service:") else group
        definition = self.ecs.describe_task_definition(taskDefinition=described["taskDefinitionArn"])
        definitions = definition["taskDefinition"]["containerDefinitions"]
        task_id = arn.rsplit("/", 1)[-1]
        try:
            run = self.host.run_task(task_id[:12], definitions, stop_timeout=self.stop_timeout)
        except CourseError as error:
            self.ecs.stop_task(cluster=self.cluster, task=arn, reason=f"Task failed to start: {error.what}")
            if self.problems.get(f"{name}:start") != error.what:
                self.problems[f"{name}:start"] = error.what
                self.event(name, events.failed_to_start_message(name, task_id, error.what))
            return
        task = RunningTask(arn, name, described["taskDefinitionArn"], run, time.monotonic())
        self.tasks[arn] = task
        images = {d.get("name"): d.get("image") for d in definitions}
        bindings = [
            {"containerName": c.name, "image": images.get(c.name), "containerPort": container_port}
            | {"hostPort": host_port, "protocol": "tcp", "bindIP": "0.0.0.0"}
            for c in run
            for container_port, host_port in sorted(c.ports.items())
        ]
        self.event(name, running_tasks=[arn], network_bindings={arn: bindings})
        services = self.ecs.describe_services(cluster=self.cluster, services=[name])["services"] if name else []
        for balancer in (services[0].get("loadBalancers") or []) if services else []:
            target_group = balancer.get("targetGroupArn")
            container = next((c for c in run if c.name == balancer.get("containerName")), None)
            port = container.ports.get(int(balancer.get("containerPort", 0))) if container else None
            if not target_group or port is None:
                continue
            # The lab's health checks own this group's health from now on, so the new target is
            # initial (Elb.RegistrationInProgress) until a check passes, as on AWS, not moto's instant healthy.
            health.claim(self.endpoint, target_group)
            target = {"Id": self.instance_id, "Port": port}
            self.elbv2.register_targets(TargetGroupArn=target_group, Targets=[target])
            task.targets.append((target_group, port))
            self.event(name, events.registered_message(name, 1, target_group))

    def _reap_exited(self) -> None:
        """A task whose essential container exited is stopped at once (ECS: "Essential container in task exited")."""
        for task in [t for t in self.tasks.values() if t.draining_until is None]:
            if any(c.process is not None and c.process.poll() is not None for c in task.containers):
                self._deregister(task)
                self._stop(task, events.EXITED_REASON)

    def _deregistration_delay(self, group: str) -> float:
        attributes = self.elbv2.describe_target_group_attributes(TargetGroupArn=group).get("Attributes", [])
        for attribute in attributes:
            if attribute.get("Key") == "deregistration_delay.timeout_seconds":
                return float(attribute.get("Value") or 0)
        return DEFAULT_DEREGISTRATION_DELAY

    def _deregister(self, task: RunningTask) -> float:
        delay = 0.0
        for group, port in task.targets:
            # a retry may find it deregistered already: that succeeds too (API_DeregisterTargets.html)
            self.elbv2.deregister_targets(TargetGroupArn=group, Targets=[{"Id": self.instance_id, "Port": port}])
            self.event(task.service, events.deregistered_message(task.service, 1, group))
            delay = max(delay, self._deregistration_delay(group))
        return delay

    def _drain(self, task: RunningTask, now: float, reason: str) -> None:
        """The scheduler stopped this task (it said "has stopped"): its targets are deregistered and drain
        (the task's DEACTIVATING state), then its containers stop without another event."""
        task.stop_reason = reason
        delay = self._deregister(task)
        if task.targets:
            self.event(task.service, events.draining_message(task.service, 1))
        task.draining_until = now + delay

    def _finish_draining(self, now: float) -> None:
        for task in [t for t in self.tasks.values() if t.draining_until is not None and t.draining_until <= now]:
            for group, port in task.targets:  # drained: no longer listed (the ALB's checks say so too, if one runs)
                try:
                    health.publish(self.endpoint, group, {(self.instance_id, port): health.UNUSED})
                except Exception:  # noqa: BLE001 - the group deleted, the emulator restarting: nothing to unlist
                    pass
            self._stop(task, task.stop_reason)

    def _stop(self, task: RunningTask, reason: str) -> None:
        for container in reversed(task.containers):
            self.host.stop(container, timeout=self.stop_timeout)
        self.tasks.pop(task.arn, None)
        try:
            self.ecs.stop_task(cluster=self.cluster, task=task.arn, reason=reason)
        except Exception:
            self.unstopped[task.arn] = reason  # ECS would show it running, or deactivating, for good: told next pass
            raise
        if not task.stop_reason:  # stopped here, not by the scheduler (which said so as it decided)
            self.event(task.service, events.stopped_message(task.service, [task.id]))

    def _tell_stopped(self) -> None:
        """ECS learns of the tasks whose containers stopped while it could not be told (``unstopped``)."""
        for arn, reason in list(self.unstopped.items()):
            try:
                self.ecs.stop_task(cluster=self.cluster, task=arn, reason=reason)
            except ClientError:  # ECS does not know the task (the emulator restarted empty): nothing to tell
                pass
            del self.unstopped[arn]

    # -- the loop ------------------------------------------------------------

    def write_status(self, error: str = "") -> None:
        status = {
            "instance": self.instance_id,
            "cluster": self.cluster,
            "container_instance": self.container_instance,
            "memory": cgroups.memory_limits(),
            "tasks": {t.id: t.status() for t in self.tasks.values()},
            "cannot_run": sorted(set(self.problems.values())),
            "error": error,
        }
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"agent-{self.instance_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=2) + "\n")
        tmp.replace(path)

    def run(self, max_seconds: float | None = None, stop: threading.Event | None = None) -> None:
        """Register, then one pass every ``poll`` s until ``stop`` is set (or SIGTERM, or ``max_seconds``)."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        if stop is not None:
            self.stop_event = stop
        last_error = ""
        try:
            while not self.stop_event.is_set() and (deadline is None or time.monotonic() < deadline):
                began = time.monotonic()
                error = ""
                try:
                    if self.container_instance is None:
                        self.register()
                    seen = self.watch.look()
                    if self.pass_due(seen, began):
                        self.step()
                        self.watch.saw(seen)
                        self.passed_at = began
                except CourseError as problem:
                    error = problem.what
                except Exception as problem:  # the emulator restarting, a call timing out: try again next pass
                    error = f"{type(problem).__name__}: {problem}"
                if error and error != last_error:
                    self.log(f"agent {self.instance_id}: {error}")
                last_error = error
                self.write_status(error)
                self.stop_event.wait(max(0.0, began + self.poll - time.monotonic()))  # wakes at once on a stop
        finally:
            self.shutdown()

    def pass_due(self, seen: tuple | None, now: float) -> bool:
        """Whether a pass (``step``) is due: the emulator served a write the agent acts on (a task placed or
        stopped, an instance...), or cannot say, or a few seconds passed (helpers/lab/changes.py); or one of the
        agent's own clocks ran out: a drain is over, a container exited; or ECS still has to hear of a stop."""
        if self.passed_at is None or self.watch.due(seen) or self.unstopped:
            return True
        for task in self.tasks.values():
            if task.draining_until is not None:
                if task.draining_until <= now:
                    return True
                continue  # a draining task's containers may end before it: nothing to do until the drain is over
            if any(c.process is not None and c.process.poll() is not None for c in task.containers):
                return True
        return False

    def shutdown(self) -> None:
        """Stop this agent's tasks: targets deregistered, containers stopped (SIGKILL after
        ``shutdown_timeout``), tasks STOPPED."""
        self.stop_timeout = min(self.stop_timeout, self.shutdown_timeout)
        for task in list(self.tasks.values()):
            try:
                if task.draining_until is None:
                    self._deregister(task)
                self._stop(task, "Container instance's agent stopped")
            except Exception:  # the emulator may be gone: still stop the processes
                for container in task.containers:
                    self.host.stop(container, timeout=self.stop_timeout)
                self.tasks.pop(task.arn, None)
        self.host.close(timeout=self.stop_timeout)


def status_lines(workdir: Path | None = None) -> list[str]:
    """For `lab status`: each agent's cluster, tasks and what it cannot run."""
    lines = []
    for path in sorted(Path(workdir or workspace.path("lab")).glob("agent-*.json")):
        try:
            status = json.loads(path.read_text())
        except ValueError:
            continue
        ports = ", ".join(f"{t} on {v['ports']}" for t, v in status.get("tasks", {}).items()) or "no tasks"
        lines.append(f"agent {status.get('instance')}: cluster {status.get('cluster')}, {ports}")
        lines += [f"  cannot run: {why}" for why in status.get("cannot_run", [])]
        if status.get("error"):
            lines.append(f"  last error: {status['error']}")
    return lines


def program(stop: threading.Event, log, *, endpoint, region, instance_id, namespace, address, ws=None) -> None:
    """The agent of one instance until ``stop`` is set: a thread of the lab's supervisor (helpers/lab/control/supervisor.py).

    The thread stays in the supervisor's namespaces (the emulator is on its loopback); everything it
    builds in the instance's namespace it builds with child processes (its Netns: helpers/lab/net/netns.py).
    """
    agent = Agent(endpoint, region, instance_id, namespace, address, ws=ws, shutdown_timeout=SHUTDOWN_TIMEOUT, log=log)
    agent.run(stop=stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.lab.ecs.agent", description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", required=True, help="the emulator's URL")
    parser.add_argument("--region", required=True)
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--namespace", required=True, help="the instance's network namespace")
    parser.add_argument("--address", required=True, help="the instance's private address (DNAT destination)")
    parser.add_argument("--ws", default=None, help="the <ws> of namespace names (default: from the workspace)")
    parser.add_argument("--workdir", default=None, help="where logs and status go (default: <workspace>/lab)")
    parser.add_argument("--poll", type=float, default=POLL)
    parser.add_argument("--stop-timeout", type=float, default=containers.STOP_TIMEOUT)
    args = parser.parse_args(argv)
    agent = Agent(
        *(args.endpoint, args.region, args.instance_id, args.namespace, args.address),
        ws=args.ws,
        workdir=Path(args.workdir) if args.workdir else None,
        poll=min(args.poll, POLL),
        stop_timeout=args.stop_timeout,
    )

    signal.signal(signal.SIGTERM, lambda *_: agent.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: agent.stop_event.set())
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
