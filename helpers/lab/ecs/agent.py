"""A stand-in for the ECS container agent and the service scheduler, for one EC2 instance.

    agent.program(stop, log, endpoint=URL, region=R, instance_id="i-...", namespace="lab-<ws>-ec2-i-...",
                  address="10.0.1.23", ws=WS)
    python -m helpers.lab.ecs.agent --endpoint URL --region R \\
        --instance-id i-... --namespace lab-<ws>-ec2-i-<id> --address 10.0.1.23

``program`` is the agent of one instance, run by the lab's supervisor as a thread
(helpers/lab/control/supervisor.py) until ``stop`` is set; ``python -m helpers.lab.ecs.agent`` runs the same in a
process of its own (tests), until SIGTERM. Either stays in the host's network namespace: the
emulator listens on the host's loopback, which no lab namespace may reach (the brief's network
safety rule); the agent builds everything in the instance namespace with child processes
(through its ``Netns``, helpers/lab/net/netns.py), never by moving a thread there. Its boto3 clients are the
lab's shared ones (``aws.emulator_client``: one session per emulator, short timeouts, one retry).

It talks to the emulator only through the real AWS APIs (boto3), except for what no API
offers (service events and task counts: ``POST /_course/lab/service-event``,
helpers/runtime/moto_lab_ecs.py):

1. **Which cluster.** The instance's user data (``ec2 describe_instance_attribute userData``:
   base64 of the launch template's shell script) names it in ``ECS_CLUSTER=...``, the line the
   script writes into /etc/ecs/ecs.config. Without it the agent joins the cluster named
   ``default``, and creates that one if it does not exist; a cluster that *is* named but
   missing is an error the agent keeps retrying, as the real agent does:
   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-agent-config.html (ECS_CLUSTER,
   default "default"); github.com/aws/amazon-ecs-agent ecs-agent/api/ecs/client/ecs_client.go
   (RegisterContainerInstance: "If our clusterRef is empty, we should try to create the default").
2. **Registers the container instance** (``ecs register_container_instance`` with the instance
   identity document the agent reads from the instance metadata: instanceId, region, zone,
   account, type, image, private address). Re-uses its registration when it restarts.
3. **A bounded scheduler loop** (one pass ≤ ``--poll`` s apart, each AWS call with a timeout):
   for each service of the cluster whose desired count exceeds its running tasks, tasks are
   placed spread across the cluster's registered instances (``spread`` by ``instanceId``; this
   agent starts only its own share), started with ``ecs start_task`` (so ``list_tasks`` and
   ``describe_tasks`` show them), their containers run (helpers/lab/ecs/containers.py) and each
   task's target (instance id, host port) is registered in the service's target group, which the
   agent first hands to the lab's health checks (``health.claim``): the new target is ``initial``
   (``Elb.RegistrationInProgress``) until a check passes, as on AWS, not moto's instant ``healthy``;
   a deregistered one is listed ``draining`` until its delay is over, while its task is ``DEACTIVATING``
   (desired ``STOPPED``) in ``describe_tasks``, then ``STOPPED``.
   After ``healthCheckGracePeriodSeconds`` a task whose target ``describe_target_health`` says
   ``unhealthy`` is replaced: ECS's events say it is unhealthy and, in the same moment, that the
   service "has stopped" it (the scheduler's decision; the task then deactivates); its target is
   deregistered (it drains for the target group's ``deregistration_delay.timeout_seconds``, then
   its containers stop) and a new task starts on a new host port. (The order and timing of those
   events, from a real service's ``describe-services``: "is unhealthy" and "has stopped" 46 ms
   apart, "deregistered" after them: github.com/hackforla/CivicTechJobs/issues/436; the lifecycle:
   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html,
   DEACTIVATING is when target groups are deregistered.) A task whose essential container exits is stopped and replaced. (AWS differs:
   with ``maximumPercent`` room the scheduler starts the replacement first and stops the unhealthy
   task as it goes, https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html;
   here both happen at the same moment, so a target is registered nearly all the time on both.)
   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-load-balancing.html
   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement-strategies.html
4. **Service events** worded as ECS words them
   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages.html,
   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-unhealthy-event-messages.html).

A task definition the lab cannot run (``awsvpc`` network mode, an unknown ``image``, volumes…)
gets one event naming the field, and the agent keeps running the others.
``stop`` set (the process: SIGTERM): the agent deregisters its tasks' targets, stops their
containers (SIGTERM, then SIGKILL after the bound) and returns (the process exits 0).
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
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from ... import workspace
from ...errors import CourseError
from ...runtime import aws, emulator_api
from ...runtime.emulator_routes import LAB_SERVICE_EVENT
from .. import changes
from ..alb import health
from . import cgroups, containers, images

DEFAULT_CLUSTER = "default"
POLL = 1.0  # seconds between two looks: a pass runs when something it acts on changed (``Agent.pass_due``)
# The writes it acts on: services and tasks, target registrations, instances coming and going. A target's health
# (the lab's checks) matters only to a task past its grace period (``Agent.pass_due``).
WATCHED = ("ecs", "elasticloadbalancing", "ec2", "autoscaling")
DEFAULT_DEREGISTRATION_DELAY = 300  # ELB's default deregistration_delay.timeout_seconds
AGENT_VERSION = "1.0.0-lab"
# A task's stoppedReason (describe_tasks) when the scheduler stops it: https://repost.aws/knowledge-center/ecs-task-stopped
UNHEALTHY_REASON = "Task failed ELB health checks"
SCALE_IN_REASON = "Scaling activity initiated by deployment"
_CLUSTER_LINE = re.compile(r"""(?m)^[^#\n]*\bECS_CLUSTER=["']?([A-Za-z0-9_\-]+)""")


# --- event wording (service-event-messages.html) -----------------------------


def started_message(service: str, task_ids: list[str]) -> str:
    return f"(service {service}) has started {len(task_ids)} tasks: " + " ".join(f"(task {t})" for t in task_ids) + "."


def stopped_message(service: str, task_ids: list[str]) -> str:
    tasks = " ".join(f"(task {t})" for t in task_ids)
    return f"(service {service}) has stopped {len(task_ids)} running tasks: {tasks}."


def registered_message(service: str, count: int, target_group: str) -> str:
    return f"(service {service}) registered {count} targets in (target-group {target_group})"


def deregistered_message(service: str, count: int, target_group: str) -> str:
    return f"(service {service}) deregistered {count} targets in (target-group {target_group})"


def draining_message(service: str, count: int) -> str:
    return f"(service {service}) has begun draining connections on {count} tasks."


def unhealthy_message(service: str, task: str, instance: str, port: int, target_group: str, reason: str) -> str:
    return (
        f"(service {service}) (task {task}) (instance {instance}) (port {port}) is unhealthy in "
        f"(target-group {target_group}) due to (reason {reason})"
    )


def steady_message(service: str) -> str:
    return f"(service {service}) has reached a steady state."


def no_instances_message(service: str) -> str:
    return (
        f"service {service} was unable to place a task because no container instance met all of its "
        "requirements. Reason: No Container Instances were found in your cluster."
    )


def port_in_use_message(service: str, container_instance_id: str) -> str:
    return (
        f"service {service} was unable to place a task because no container instance met all of its "
        f"requirements. The closest matching container-instance {container_instance_id} is already using a "
        "port required by your task."
    )


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


def post_service_event(endpoint: str, body: dict, timeout: float = 5.0) -> dict:
    """POST /_course/lab/service-event: an event and/or counts on one service."""
    try:
        return json.loads(emulator_api.call(endpoint, LAB_SERVICE_EVENT, body, timeout=timeout) or b"{}")
    except urllib.error.HTTPError as error:
        raise CourseError(
            f"The emulator refused a lab service event: {error.read().decode(errors='replace')}",
            f"POST {LAB_SERVICE_EVENT} answered {error.code}.",
            "restart the emulator (python -m helpers emulator stop; start) so it has the lab's routes.",
        ) from None


def report_unplaceable(ecs, endpoint: str, region: str, cluster: str) -> list[str]:
    """For a cluster-level loop (the lab controller): services that cannot place a task.

    A service with desired tasks in a cluster where no container instance is registered
    gets ECS's event (service-event-messages.html), not repeated while it is the newest.
    No agent can write it: no agent runs in such a cluster. Returns the services reported.
    """
    if ecs.list_container_instances(cluster=cluster, status="ACTIVE").get("containerInstanceArns"):
        return []
    arns = ecs.list_services(cluster=cluster).get("serviceArns", [])
    reported = []
    for service in ecs.describe_services(cluster=cluster, services=arns).get("services", []) if arns else []:
        if service.get("status") != "ACTIVE" or not service.get("desiredCount"):
            continue
        message = no_instances_message(service["serviceName"])
        events = service.get("events") or []
        if events and events[0].get("message") == message:
            continue
        post_service_event(
            endpoint, {"region": region, "cluster": cluster, "service": service["serviceName"], "message": message}
        )
        reported.append(service["serviceName"])
    return reported


# --- the agent ------------------------------------------------------------------


@dataclass
class RunningTask:
    arn: str
    service: str
    definition_arn: str
    containers: list
    started: float
    targets: list = field(default_factory=list)  # [(target group arn, port)]
    draining_until: float | None = None  # set when its target was deregistered
    stop_announced: bool = False  # "has stopped" already written: when ECS decided to stop it, before its drain
    stop_reason: str = ""  # why ECS decided to stop it: its stoppedReason once stopped
    grace_until: float = 0.0  # when its service's health-check grace period ends (time.monotonic)

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


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
        self.problems: dict[str, str] = {}  # what the lab cannot run: key -> message (reported once)
        self.steady: set[str] = set()
        self.unstopped: dict[str, str] = {}  # task arn -> reason: its containers stopped, ECS not told yet (retried)
        self.stop_event = threading.Event()  # set: the agent stops its tasks and returns (SIGTERM sets it too)
        self.watch = changes.Watch(endpoint, WATCHED)
        self.health_watch = changes.Watch(endpoint, (changes.TARGET_HEALTH,))  # same look, its own count
        self.passed_at: float | None = None  # when the last pass ran (time.monotonic)

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    @stopping.setter
    def stopping(self, value: bool) -> None:
        if value:
            self.stop_event.set()
        else:
            self.stop_event.clear()

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
        orphans = [arn for arn in orphans if arn not in self.tasks]
        for start in range(0, len(orphans), 100):  # describe_tasks takes at most 100
            for task in self.ecs.describe_tasks(cluster=self.cluster, tasks=orphans[start : start + 100])["tasks"]:
                if task.get("lastStatus") != "STOPPED":
                    self.ecs.stop_task(
                        cluster=self.cluster, task=task["taskArn"], reason="The lab's ECS agent restarted"
                    )

    # -- 3. one scheduler pass -----------------------------------------------

    def event(self, service: str, message: str | None = None, **counts) -> None:
        body = {"region": self.region, "cluster": self.cluster, "service": service, **counts}
        if message:
            body["message"] = message
        post_service_event(self.endpoint, body)

    def _instances(self) -> list[tuple[str, str]]:
        """(ec2 instance id, container instance arn) of the cluster's ACTIVE instances, sorted."""
        arns = self.ecs.list_container_instances(cluster=self.cluster, status="ACTIVE").get("containerInstanceArns", [])
        if not arns:
            return []
        described = self.ecs.describe_container_instances(cluster=self.cluster, containerInstances=arns)
        return sorted((c["ec2InstanceId"], c["containerInstanceArn"]) for c in described["containerInstances"])

    def _service_tasks(self, service: str) -> list[dict]:
        arns = self.ecs.list_tasks(cluster=self.cluster, desiredStatus="RUNNING").get("taskArns", [])
        if not arns:
            return []
        tasks = self.ecs.describe_tasks(cluster=self.cluster, tasks=arns).get("tasks", [])
        return [t for t in tasks if t.get("group") == f"service:{service}"]

    def my_share(self, missing: int, counts: dict[str, int], instances: list[tuple[str, str]]) -> int:
        """How many of ``missing`` new tasks spread-by-instanceId puts on this instance."""
        counts = {arn: counts.get(arn, 0) for _, arn in instances}
        mine = 0
        for _ in range(missing):
            target = min(instances, key=lambda pair: (counts[pair[1]], pair[0]))[1]
            counts[target] += 1
            mine += target == self.container_instance
        return mine

    def my_removals(self, surplus: int, counts: dict[str, int], instances: list[tuple[str, str]]) -> int:
        """How many of ``surplus`` tasks to stop come off this instance: spread keeps the balance,
        so each comes off the instance with the most (a tie: the higher instance id)."""
        counts = {arn: counts.get(arn, 0) for _, arn in instances}
        mine = 0
        for _ in range(surplus):
            source = max(instances, key=lambda pair: (counts[pair[1]], pair[0]))[1]
            if counts[source] == 0:
                break
            counts[source] -= 1
            mine += source == self.container_instance
        return mine

    def _unrunnable(self, definition: dict, service: dict | None = None) -> str | None:
        """Why the lab cannot run this task definition (naming the field), or None."""
        launch = (service or {}).get("launchType") or "EC2"
        if launch != "EC2":
            return f"service field `launchType` is {launch!r}: the lab runs tasks on the cluster's EC2 instances only"
        mode = definition.get("networkMode") or "bridge"
        if mode != "bridge":
            return f"task definition field `networkMode` is {mode!r}: the lab runs bridge mode only"
        if definition.get("volumes"):
            return "task definition field `volumes` is set: the lab mounts no task volumes"
        for container in definition.get("containerDefinitions", []):
            try:
                containers.check_definition(container)
                images.image_for(container.get("image", ""), container.get("name", ""))
            except CourseError as error:
                return error.what
        return None

    def step(self) -> None:
        """One pass over the cluster's services."""
        now = time.monotonic()
        self._tell_stopped()
        instances = self._instances()
        if self.container_instance not in {arn for _, arn in instances}:
            # The emulator restarted (its state is gone), or someone deregistered us: the tasks we ran
            # belong to no ECS any more. Stop their containers, then join again.
            # ECS deregisters an orphaned service task's targets and replaces the task (API_DeregisterContainerInstance).
            for task in list(self.tasks.values()):
                for container in reversed(task.containers):
                    self.host.stop(container, timeout=self.stop_timeout)
                self.tasks.pop(task.arn, None)
                try:
                    self._deregister(task)
                    self.ecs.stop_task(cluster=self.cluster, task=task.arn, reason="Container instance deregistered")
                except Exception:  # an emulator that restarted has neither the targets nor the task
                    pass
            self.container_instance = None
            self.register()
            instances = self._instances()
        arns = self.ecs.list_services(cluster=self.cluster).get("serviceArns", [])
        services = self.ecs.describe_services(cluster=self.cluster, services=arns).get("services", []) if arns else []
        for service in services:
            if service.get("status") == "ACTIVE":
                self._schedule(service, instances, now)
        self._finish_draining(now)

    def _schedule(self, service: dict, instances: list, now: float) -> None:
        name = service["serviceName"]
        definition = self.ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        why = self._unrunnable(definition, service)
        if why:
            key = f"{name}:{definition['taskDefinitionArn']}"
            if key not in self.problems:
                self.problems[key] = why
                self.event(name, f"(service {name}) the lab cannot run {definition['taskDefinitionArn']}: {why}.")
            return
        for task in [t for t in self.tasks.values() if t.service == name and t.stop_announced]:
            if task.draining_until is None:  # an earlier pass decided to stop it, and could not deregister it
                self._drain(task, service, now, task.stop_reason)
        self._check_health(service, now)
        self._reap_exited(service)
        running = self._service_tasks(name)
        active = {arn for _, arn in instances}  # tasks left on a deregistered instance count for nothing
        live = [t for t in running if not self._draining(t["taskArn"]) and t.get("containerInstanceArn") in active]
        counts: dict[str, int] = {}
        for task in live:
            counts[task.get("containerInstanceArn", "")] = counts.get(task.get("containerInstanceArn", ""), 0) + 1
        desired = int(service.get("desiredCount") or 0)
        missing = desired - len(live)
        if missing > 0 and instances:
            for _ in range(self.my_share(missing, counts, instances)):
                if not self._ports_free(name, definition) or not self._start_task(service, definition):
                    break
        elif missing < 0 and instances:
            mine = [t for t in self.tasks.values() if t.service == name and t.draining_until is None]
            for task in sorted(mine, key=lambda t: -t.started)[: self.my_removals(-missing, counts, instances)]:
                self._drain(task, service, now, SCALE_IN_REASON)
        live_count = len(
            [
                t
                for t in self._service_tasks(name)
                if not self._draining(t["taskArn"]) and t.get("containerInstanceArn") in active
            ]
        )
        self.event(name, running_count=live_count, pending_count=max(0, desired - live_count))
        # Steady: the desired count runs and nothing drains (reported by one agent: the lowest instance id).
        draining = any(t.service == name and t.draining_until is not None for t in self.tasks.values())
        if live_count == desired and not draining:
            if name not in self.steady and instances and instances[0][1] == self.container_instance:
                self.event(name, steady_message(name))
            self.steady.add(name)
        else:
            self.steady.discard(name)

    def _ports_free(self, name: str, definition: dict) -> bool:
        """A fixed hostPort already taken on this instance: ECS places no task here, and says so."""
        fixed = {
            int(m["hostPort"])
            for c in definition.get("containerDefinitions", [])
            for m in c.get("portMappings") or []
            if m.get("hostPort")
        }
        if not fixed & self.host.busy_ports():
            self.problems.pop(f"{name}:ports", None)
            return True
        message = port_in_use_message(name, self.container_instance.rsplit("/", 1)[-1])
        if self.problems.get(f"{name}:ports") != message:
            self.problems[f"{name}:ports"] = message
            self.event(name, message)
        return False

    def _draining(self, task_arn: str) -> bool:
        task = self.tasks.get(task_arn)
        return bool(task and task.draining_until is not None)

    def _start_task(self, service: dict, definition: dict) -> bool:
        name = service["serviceName"]
        deployment = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), {})
        started = self.ecs.start_task(
            cluster=self.cluster,
            taskDefinition=definition["taskDefinitionArn"],
            containerInstances=[self.container_instance],
            startedBy=deployment.get("id", f"ecs-svc/{name}")[:36],
            group=f"service:{name}",
        )["tasks"][0]
        task_id = started["taskArn"].rsplit("/", 1)[-1]
        self.event(name, running_tasks=[started["taskArn"]])  # lastStatus stays RUNNING while it runs
        short = task_id[:12]
        try:
            run = self.host.run_task(short, definition["containerDefinitions"], stop_timeout=self.stop_timeout)
        except CourseError as error:
            self.ecs.stop_task(
                cluster=self.cluster, task=started["taskArn"], reason=f"Task failed to start: {error.what}"
            )
            key = f"{name}:start"
            if self.problems.get(key) != error.what:
                self.problems[key] = error.what
                self.event(name, f"(service {name}) (task {task_id}) failed to start: {error.what}")
            return False
        task = RunningTask(started["taskArn"], name, definition["taskDefinitionArn"], run, time.monotonic())
        task.grace_until = task.started + float(service.get("healthCheckGracePeriodSeconds") or 0)
        self.tasks[task.arn] = task
        self.event(name, started_message(name, [task_id]))
        for balancer in service.get("loadBalancers") or []:
            group = balancer.get("targetGroupArn")
            container = next((c for c in run if c.name == balancer.get("containerName")), None)
            port = container.ports.get(int(balancer.get("containerPort", 0))) if container else None
            if not group or port is None:
                continue
            # The lab's health checks own this group's health from now on, so the new target is
            # initial (Elb.RegistrationInProgress) until a check passes, as on AWS, not moto's instant healthy.
            health.claim(self.endpoint, group)
            self.elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": self.instance_id, "Port": port}])
            task.targets.append((group, port))
            self.event(name, registered_message(name, 1, group))
        return True

    def target_health(self, group: str, port: int) -> dict:
        """The target's TargetHealth (State, Reason, Description), read with describe_target_health."""
        answer = self.elbv2.describe_target_health(
            TargetGroupArn=group, Targets=[{"Id": self.instance_id, "Port": port}]
        )
        for description in answer.get("TargetHealthDescriptions", []):
            target = description.get("Target", {})
            if target.get("Id") == self.instance_id and int(target.get("Port", 0)) == port:
                return description.get("TargetHealth", {})
        return {}

    def _check_health(self, service: dict, now: float) -> None:
        """After the grace period, a task with an unhealthy target is drained and replaced."""
        name = service["serviceName"]
        grace = float(service.get("healthCheckGracePeriodSeconds") or 0)
        for task in [t for t in self.tasks.values() if t.service == name and t.draining_until is None]:
            if now - task.started < grace:
                continue
            for group, port in task.targets:
                health = self.target_health(group, port)
                if health.get("State") == "unhealthy":
                    reason = health.get("Description") or health.get("Reason") or "Health checks failed"
                    group_name = group.split(":targetgroup/")[-1].split("/")[0]
                    self.event(name, unhealthy_message(name, task.id, self.instance_id, port, group_name, reason))
                    self._drain(task, service, now, UNHEALTHY_REASON)
                    break

    def _reap_exited(self, service: dict) -> None:
        """A task whose essential container exited is stopped (ECS: "Essential container in task exited")."""
        for task in [
            t for t in self.tasks.values() if t.service == service["serviceName"] and t.draining_until is None
        ]:
            if any(c.process is not None and c.process.poll() is not None for c in task.containers):
                self._deregister(task)
                self._stop(task, "Essential container in task exited")

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
            self.event(task.service, deregistered_message(task.service, 1, group))
            delay = max(delay, self._deregistration_delay(group))
        return delay

    def _drain(self, task: RunningTask, service: dict, now: float, reason: str) -> None:
        # ECS says it stopped the task as it decides to (an unhealthy task, a scale-in, a deployment); the drain
        # follows (the task's DEACTIVATING state), then the containers stop without another event.
        if not task.stop_announced:  # else a retry: the first try failed after saying so
            self.event(task.service, stopped_message(task.service, [task.id]), deactivating_tasks=[task.arn])
            task.stop_announced, task.stop_reason = True, reason
        delay = self._deregister(task)
        if task.targets:
            self.event(task.service, draining_message(task.service, 1))
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
        if not task.stop_announced:
            self.event(task.service, stopped_message(task.service, [task.id]))

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
            "tasks": {
                t.id: {
                    "service": t.service,
                    "ports": [p for _, p in t.targets],
                    "draining": t.draining_until is not None,
                }
                for t in self.tasks.values()
            },
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
            while not self.stopping and (deadline is None or time.monotonic() < deadline):
                began = time.monotonic()
                error = ""
                try:
                    if self.container_instance is None:
                        self.register()
                    found = changes.fetch(self.endpoint)
                    seen, health_seen = self.watch.project(found), self.health_watch.project(found)
                    if self.pass_due(seen, began, health_seen):
                        self.step()
                        self.watch.saw(seen)
                        self.health_watch.saw(health_seen)
                        self.passed_at = began
                except CourseError as problem:
                    error = problem.what
                except Exception as problem:  # the emulator restarting, a call timing out: try again next pass
                    error = f"{type(problem).__name__}: {problem}"
                if error and error != last_error:
                    self.log(f"agent {self.instance_id}: {error}")
                last_error = error
                self.write_status(error)
                end = began + self.poll
                while not self.stopping and time.monotonic() < end:  # wakes within 0.1 s of a stop
                    time.sleep(max(0.0, min(0.1, end - time.monotonic())))
        finally:
            self.shutdown()

    def pass_due(self, seen: tuple | None, now: float, health_seen: tuple | None = None) -> bool:
        """Whether a pass (``step``) is due: the emulator served a write the agent acts on (a service, an
        instance...), or cannot say, or a few seconds passed (helpers/lab/changes.py); what describe_target_health
        returns changed while a task is past its grace period (only then does its health decide anything); or one
        of the agent's own clocks ran out: a task's grace period ended, a drain is over, a container exited."""
        if self.passed_at is None or self.watch.due(seen) or self.unstopped:
            return True
        past_grace = any(t.draining_until is None and t.grace_until <= now and t.targets for t in self.tasks.values())
        if past_grace and self.health_watch.due(health_seen):
            return True
        for task in self.tasks.values():
            if task.draining_until is not None:
                if task.draining_until <= now:
                    return True
                continue  # a draining task's containers may end before it: nothing to do until the drain is over
            if task.stop_announced:  # stopped by ECS, its targets not yet deregistered: retried
                return True
            if self.passed_at < task.grace_until <= now:
                return True
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


SHUTDOWN_TIMEOUT = 3.0  # seconds a container gets to stop when the lab stops the agent (then SIGKILL)


def program(
    stop: threading.Event,
    log,
    *,
    endpoint: str,
    region: str,
    instance_id: str,
    namespace: str,
    address: str,
    ws: str | None = None,
) -> None:
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
        args.endpoint,
        args.region,
        args.instance_id,
        args.namespace,
        args.address,
        ws=args.ws,
        workdir=Path(args.workdir) if args.workdir else None,
        poll=min(args.poll, POLL),
        stop_timeout=args.stop_timeout,
    )

    def stop(*_):
        agent.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
