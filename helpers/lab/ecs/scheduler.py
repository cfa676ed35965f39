"""ECS's service scheduler for one cluster: the lab's stand-in for ECS's control plane.

    scheduler.program(stop, log, endpoint=URL, region=R, cluster="arn:aws:ecs:...:cluster/NAME")

One per cluster, run by the lab's supervisor as a thread until ``stop`` is set (helpers/lab/control/supervisor.py,
``CLUSTER_PROGRAMS``; which clusters: ``clusters_to_run``). Each pass, for every ACTIVE service of the cluster:

1. **Replacement.** After ``healthCheckGracePeriodSeconds`` (counted from the task's ``startedAt``), a task whose
   target ``describe_target_health`` says ``unhealthy`` is stopped: "is unhealthy", then "has stopped"
   (helpers/lab/ecs/events.py). A task whose essential container exited is stopped by its agent; either way the
   running count falls short and the same pass starts a replacement. (AWS differs: with ``maximumPercent`` room
   the scheduler starts the replacement first and stops the unhealthy task once it is healthy,
   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html; here both happen at
   once: README.md, "What differs from AWS".)
2. **Placement.** Missing tasks are placed ``spread`` by ``instanceId`` across the cluster's ACTIVE container
   instances (the fewest of the service's tasks first; a tie: the lower instance id), skipping an instance
   where a fixed ``hostPort`` of the task definition is taken by a task already there
   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement-strategies.html). Surplus tasks
   (a lower desired count) come off the instance with the most of them, newest first.
3. **Events and counts**: "has started", "has stopped", "unable to place", "has reached a steady state", the
   service's ``runningCount`` and ``pendingCount``.

It hands work to the instances' agents (helpers/lab/ecs/agent.py) through ECS's own state, as ECS does, so
``describe_tasks`` shows every step: a placed task is ``start_task`` on its ``containerInstanceArn``, held
``PENDING`` until its agent runs it (``RUNNING``, with ``startedAt`` and ``networkBindings``); a task to stop
gets ``desiredStatus`` ``STOPPED``, ``lastStatus`` ``DEACTIVATING`` and its ``stoppedReason``, and its agent
drains and stops it (``STOPPED``). Writes no AWS API offers (those states, events, counts) go through
``POST /_course/lab/service-event`` (helpers/runtime/moto_lab_ecs.py).
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-load-balancing.html
"""

from __future__ import annotations

import threading
import time

from ...errors import CourseError
from ...runtime import aws
from .. import changes
from . import containers, events, images

POLL = 1.0  # seconds between two looks: a pass runs when something it acts on changed (``pass_due``)
# The writes it acts on: services and tasks (the agents' too), target registrations and health, instances.
WATCHED = ("ecs", "elasticloadbalancing", changes.TARGET_HEALTH, "ec2", "autoscaling")


def clusters_to_run(ecs, lab_instances: set[str]) -> list[str]:
    """The clusters (ARNs) whose scheduler the lab runs: those with a container instance on one of the lab's
    EC2 hosts, and those with none at all (ECS says it cannot place their services' tasks)."""
    chosen = []
    for arn in ecs.list_clusters().get("clusterArns", []):
        members = ecs.list_container_instances(cluster=arn, status="ACTIVE").get("containerInstanceArns", [])
        if members:
            described = ecs.describe_container_instances(cluster=arn, containerInstances=members)
            if not any(c.get("ec2InstanceId") in lab_instances for c in described["containerInstances"]):
                continue
        chosen.append(arn)
    return sorted(chosen)


def unrunnable(definition: dict, service: dict | None = None) -> str | None:
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


def fixed_host_ports(definition: dict) -> set[int]:
    """The host ports a task of this definition takes whatever the instance (``hostPort`` set, not 0)."""
    return {
        int(m["hostPort"])
        for c in definition.get("containerDefinitions", [])
        for m in c.get("portMappings") or []
        if m.get("hostPort")
    }


def host_port(task: dict, balancer: dict) -> int | None:
    """The host port of a task's load-balanced container (describe_tasks' ``networkBindings``), or None."""
    for container in task.get("containers") or []:
        if container.get("name") != balancer.get("containerName"):
            continue
        for binding in container.get("networkBindings") or []:
            if int(binding.get("containerPort", -1)) == int(balancer.get("containerPort", -2)):
                return int(binding["hostPort"])
    return None


def spread_order(instances: list[tuple[str, str]], counts: dict[str, int]) -> list[tuple[str, str]]:
    """(instance id, container instance ARN) in ``spread`` by ``instanceId`` order: fewest tasks first."""
    return sorted(instances, key=lambda pair: (counts.get(pair[1], 0), pair[0]))


def removal_order(tasks: list[dict], instances: list[tuple[str, str]]) -> list[dict]:
    """The order a scale-in takes tasks off: always from the instance with the most (a tie: the higher
    instance id), the newest task there first, so the spread stays balanced."""
    ec2_of = {arn: ec2 for ec2, arn in instances}
    left: dict[str, list[dict]] = {}
    for task in sorted(tasks, key=lambda t: str(t.get("createdAt", ""))):
        left.setdefault(task["containerInstanceArn"], []).append(task)
    order = []
    while any(left.values()):
        source = max((arn for arn in left if left[arn]), key=lambda arn: (len(left[arn]), ec2_of.get(arn, "")))
        order.append(left[source].pop())
    return order


class Scheduler:
    def __init__(self, endpoint: str, region: str, cluster: str, *, poll: float = POLL, clock=time.time):
        self.endpoint, self.region, self.cluster, self.poll, self.clock = endpoint, region, cluster, poll, clock
        self.ecs, self.elbv2 = (aws.emulator_client(name, endpoint, region) for name in ("ecs", "elbv2"))
        self.definitions: dict[str, dict] = {}  # task definition ARN → definition (a revision never changes)
        self.reported: dict[str, str] = {}  # what it could not do, said once: key → event
        self.steady: set[str] = set()  # services whose steady state was said
        self.stopping: set[str] = set()  # tasks it stopped whose agents have not finished (DEACTIVATING)
        self.grace_ends: list[float] = []  # when running tasks' grace periods end (``clock`` time)
        self.watch = changes.Watch(endpoint, WATCHED)
        self.passed_at: float | None = None

    # -- reading ECS ---------------------------------------------------------

    def definition(self, arn: str) -> dict:
        if arn not in self.definitions:
            self.definitions[arn] = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return self.definitions[arn]

    def instances(self) -> list[tuple[str, str]]:
        """(EC2 instance id, container instance ARN) of the cluster's ACTIVE instances, sorted."""
        arns = self.ecs.list_container_instances(cluster=self.cluster, status="ACTIVE")["containerInstanceArns"]
        if not arns:
            return []
        described = self.ecs.describe_container_instances(cluster=self.cluster, containerInstances=arns)
        return sorted((c["ec2InstanceId"], c["containerInstanceArn"]) for c in described["containerInstances"])

    def describe(self, arns: list[str]) -> list[dict]:
        found = []
        for start in range(0, len(arns), 100):  # describe_tasks takes at most 100
            found += self.ecs.describe_tasks(cluster=self.cluster, tasks=arns[start : start + 100])["tasks"]
        return found

    def target_health(self, group: str, instance: str, port: int) -> dict:
        """The target's TargetHealth (State, Reason, Description), read with describe_target_health."""
        answer = self.elbv2.describe_target_health(TargetGroupArn=group, Targets=[{"Id": instance, "Port": port}])
        for description in answer.get("TargetHealthDescriptions", []):
            target = description.get("Target", {})
            if target.get("Id") == instance and int(target.get("Port", 0)) == port:
                return description.get("TargetHealth", {})
        return {}

    def post(self, service: str, message: str | None = None, **fields) -> None:
        body = {"region": self.region, "cluster": self.cluster, "service": service, **fields}
        if message:
            body["message"] = message
        events.post(self.endpoint, body)

    def say_once(self, service: str, key: str, message: str) -> None:
        """An event that is not repeated while nothing changed (``reported``)."""
        if self.reported.get(key) != message:
            self.reported[key] = message
            self.post(service, message)

    # -- one pass ------------------------------------------------------------

    def step(self) -> None:
        """One pass over the cluster's services."""
        instances = self.instances()
        arns = self.ecs.list_services(cluster=self.cluster).get("serviceArns", [])
        services = self.ecs.describe_services(cluster=self.cluster, services=arns)["services"] if arns else []
        running = self.describe(self.ecs.list_tasks(cluster=self.cluster, desiredStatus="RUNNING")["taskArns"])
        stopping = [t for t in self.describe(sorted(self.stopping)) if t.get("lastStatus") != "STOPPED"]
        self.stopping = {t["taskArn"] for t in stopping}
        self.grace_ends = []
        for service in services:
            if service.get("status") == "ACTIVE":
                self.schedule(service, instances, running, stopping)

    def schedule(self, service: dict, instances: list, running: list[dict], stopping: list[dict]) -> None:
        name, desired = service["serviceName"], int(service.get("desiredCount") or 0)
        if not instances:
            newest = (service.get("events") or [{}])[0].get("message")
            if desired and newest != events.no_instances_message(name):  # not repeated while it is the newest
                self.post(name, events.no_instances_message(name))
            self.post(name, running_count=0, pending_count=0)
            return
        definition = self.definition(service["taskDefinition"])
        why = unrunnable(definition, service)
        if why:
            message = events.cannot_run_message(name, definition["taskDefinitionArn"], why)
            self.say_once(name, f"{name}:{definition['taskDefinitionArn']}", message)
            return
        active = {arn for _, arn in instances}
        mine = [t for t in running if t.get("group") == f"service:{name}" and t.get("containerInstanceArn") in active]
        replaced = self.replace_unhealthy(service, mine, {arn: ec2 for ec2, arn in instances})
        live = [t for t in mine if t["taskArn"] not in replaced]
        placed: list[str] = []
        if desired > len(live):
            placed = self.place(service, definition, desired - len(live), live, instances, running + stopping)
        elif desired < len(live):
            surplus = removal_order(live, instances)[: len(live) - desired]
            self.stop(name, surplus, events.SCALE_IN_REASON)  # one event for them all, as a scale-in's
            live = [t for t in live if t not in surplus]
            replaced += [t["taskArn"] for t in surplus]
        if placed:
            self.post(name, events.started_message(name, [arn.rsplit("/", 1)[-1] for arn in placed]))
        draining = bool(replaced) or any(t.get("group") == f"service:{name}" for t in stopping)
        self.report(name, desired, live, placed, draining)

    def replace_unhealthy(self, service: dict, tasks: list[dict], ec2_of: dict[str, str]) -> list[str]:
        """Stop the running tasks past their grace period whose target is unhealthy, each with ECS's two events
        ("is unhealthy", then "has stopped 1 running tasks"); returns their ARNs."""
        name, grace = service["serviceName"], float(service.get("healthCheckGracePeriodSeconds") or 0)
        found = []
        for task in (t for t in tasks if t.get("lastStatus") == "RUNNING" and t.get("startedAt")):
            grace_end = task["startedAt"].timestamp() + grace
            if self.clock() < grace_end:
                self.grace_ends.append(grace_end)
                continue
            for balancer in service.get("loadBalancers") or []:
                port, group = host_port(task, balancer), balancer.get("targetGroupArn")
                instance = ec2_of.get(task["containerInstanceArn"], "")
                health = self.target_health(group, instance, port) if port and group else {}
                if health.get("State") == "unhealthy":
                    reason = health.get("Description") or health.get("Reason") or "Health checks failed"
                    group_name = group.split(":targetgroup/")[-1].split("/")[0]
                    task_id = task["taskArn"].rsplit("/", 1)[-1]
                    self.post(name, events.unhealthy_message(name, task_id, instance, port, group_name, reason))
                    self.stop(name, [task], events.unhealthy_reason(group))
                    found.append(task["taskArn"])
                    break
        return found

    def place(self, service, definition, missing, live, instances, holding) -> list[str]:
        """Start ``missing`` tasks spread across the instances; returns their ARNs (held PENDING)."""
        name = service["serviceName"]
        counts: dict[str, int] = {}
        for task in live:
            counts[task["containerInstanceArn"]] = counts.get(task["containerInstanceArn"], 0) + 1
        taken: dict[str, set[int]] = {}  # container instance → fixed host ports its tasks hold (draining too)
        for task in holding:
            ports = fixed_host_ports(self.definition(task["taskDefinitionArn"]))
            taken.setdefault(task.get("containerInstanceArn", ""), set()).update(ports)
        needed = fixed_host_ports(definition)
        deployment = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), {})
        placed = []
        for _ in range(missing):
            order = spread_order(instances, counts)
            fit = next((arn for _, arn in order if not needed & taken.get(arn, set())), None)
            if fit is None:
                closest = order[0][1].rsplit("/", 1)[-1]
                self.say_once(name, f"{name}:ports", events.port_in_use_message(name, closest))
                break
            self.reported.pop(f"{name}:ports", None)
            started = self.ecs.start_task(
                cluster=self.cluster,
                taskDefinition=definition["taskDefinitionArn"],
                containerInstances=[fit],
                startedBy=deployment.get("id", f"ecs-svc/{name}")[:36],
                group=f"service:{name}",
            )["tasks"][0]
            placed.append(started["taskArn"])
            counts[fit] = counts.get(fit, 0) + 1
            taken.setdefault(fit, set()).update(needed)
        if placed:  # PENDING until its agent runs it
            self.post(name, pending_tasks=placed)
        return placed

    def stop(self, name: str, tasks: list[dict], reason: str) -> None:
        """ECS decides to stop these tasks: "has stopped" at once; each agent drains its own, then stops it."""
        if not tasks:
            return
        arns = [t["taskArn"] for t in tasks]
        self.post(name, events.stopped_message(name, [arn.rsplit("/", 1)[-1] for arn in arns]))
        self.post(name, deactivating_tasks=arns, stopped_reason=reason)
        self.stopping.update(arns)

    def report(self, name: str, desired: int, live: list[dict], placed: list[str], draining: bool) -> None:
        """The service's counts, and its steady state once reached: the desired count runs, nothing
        starts, nothing drains."""
        running = len([t for t in live if t.get("lastStatus") == "RUNNING"])
        pending = len(live) - running + len(placed)
        self.post(name, running_count=running, pending_count=pending)
        if running == desired and not pending and not draining:
            if name not in self.steady:
                self.post(name, events.steady_message(name))
            self.steady.add(name)
        else:
            self.steady.discard(name)

    # -- the loop ------------------------------------------------------------

    def pass_due(self, seen: tuple | None, now: float) -> bool:
        """A pass is due when the emulator served a write it acts on (or cannot say, or a few seconds passed:
        helpers/lab/changes.py), or a running task's grace period ended since the last pass."""
        if self.passed_at is None or self.watch.due(seen):
            return True
        return any(self.passed_at < end <= now for end in self.grace_ends)

    def run(self, stop: threading.Event, log=None, max_seconds: float | None = None) -> None:
        """One pass whenever one is due, looked for every ``poll`` s, until ``stop`` is set."""
        log = log or (lambda text: None)
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        last_error = ""
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            began, error = time.monotonic(), ""
            try:
                seen = self.watch.look()
                now = self.clock()
                if self.pass_due(seen, now):
                    self.step()
                    self.watch.saw(seen)
                    self.passed_at = now
            except CourseError as problem:
                error = problem.what
            except Exception as problem:  # noqa: BLE001 - the emulator restarting, a call timing out: next pass
                error = f"{type(problem).__name__}: {problem}"
            if error and error != last_error:
                log(f"scheduler {self.cluster}: {error}")
            last_error = error
            stop.wait(max(0.0, self.poll - (time.monotonic() - began)))


def program(stop: threading.Event, log, *, endpoint: str, region: str, cluster: str) -> None:
    """The scheduler of one cluster until ``stop`` is set: a thread of the lab's supervisor."""
    Scheduler(endpoint, region, cluster).run(stop, log)
