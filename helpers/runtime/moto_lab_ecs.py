"""What the lab's ECS agent writes into moto that no AWS API can: service events and task counts.

``POST /_course/lab/service-event`` (helpers/runtime/emulator_server.py) with JSON::

    {"region": "us-east-1", "cluster": "NAME or ARN", "service": "NAME or ARN",
     "message": "(service web) has started 1 tasks: (task 0123...).",     # optional
     "running_count": 2, "pending_count": 0,                              # optional
     "pending_tasks": ["arn:aws:ecs:...:task/..."],                       # optional
     "running_tasks": ["arn:aws:ecs:...:task/..."],                       # optional
     "network_bindings": {"arn:...:task/...": [{"containerName": "nginx", "containerPort": 80,
                          "hostPort": 32768, "protocol": "tcp", "bindIP": "0.0.0.0"}]},  # optional
     "deactivating_tasks": ["arn:aws:ecs:...:task/..."],                  # optional
     "stopped_reason": "Task failed ELB health checks"}                   # optional, with deactivating_tasks

adds the event so that ``describe_services`` lists it first (ECS returns a service's
events newest first, at most 100:
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Service.html, ``events``),
and sets the service's (and its primary deployment's) running and pending counts, which
moto never changes because it runs no task. The task states are how the lab's scheduler and agents hand
work to each other, in ECS's own state, as ECS does (helpers/lab/ecs/scheduler.py):
``pending_tasks`` (placed by the scheduler with ``start_task`` on a container instance, not yet started by
its agent) keep ``lastStatus`` PENDING; ``running_tasks`` (started by the agent) keep ``lastStatus``
RUNNING, with ``startedAt`` and their containers' ``networkBindings`` (the host ports the agent chose, as
the agent reports them with SubmitTaskStateChange: "After a task reaches the RUNNING status, manual and
automatic host and container port assignments are visible in the networkBindings section of DescribeTasks",
https://boto3.amazonaws.com/v1/documentation/api/1.34.5/reference/services/ecs/client/submit_container_state_change.html),
until ``stop_task``: moto otherwise moves every task a step towards STOPPED each time ``describe_tasks``
reads it (its ManagedState for "ecs::task"). ``deactivating_tasks`` (tasks ECS has decided to stop, whose
targets drain) get ``desiredStatus`` STOPPED, ``lastStatus`` DEACTIVATING and ``stoppedReason`` until
``stop_task``, as ECS shows them while it deregisters their targets
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html, DEACTIVATING):
``list_tasks(desiredStatus="RUNNING")`` no longer lists them. A task state that changes counts as a write
to ``ecs`` (helpers/runtime/moto_changes.py), so the lab's ECS readers look again; events and counts do not.

Runs inside the emulator process only (it imports moto).
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime

from . import moto_changes

MAX_EVENTS = 100


class BadRequest(ValueError):
    pass


def _service(body: dict):
    from moto.core import DEFAULT_ACCOUNT_ID  # moto: loaded only in the emulator's own process
    from moto.ecs.models import ecs_backends  # moto: the emulator's own process

    region, cluster, service = body.get("region"), body.get("cluster"), body.get("service")
    if not (region and cluster and service):
        raise BadRequest("region, cluster and service are required")
    account = str(cluster).split(":")[4] if str(cluster).startswith("arn:") else body.get("account", DEFAULT_ACCOUNT_ID)
    backend = ecs_backends[account][region]
    cluster_name = str(cluster).split("/")[-1]
    service_name = str(service).split("/")[-1]
    for candidate in backend.services.values():
        if candidate.cluster_name == cluster_name and candidate.name == service_name:
            return candidate
    raise BadRequest(f"no service {service_name!r} in cluster {cluster_name!r} ({region})")


def apply(body: dict) -> dict:
    """Record the event and counts of ``body`` on its service; returns what was stored."""
    service = _service(body)
    stored: dict = {}
    message = body.get("message")
    if message:
        event = {"id": str(uuid.uuid4()), "createdAt": datetime.now(UTC), "message": str(message)}
        service.events.insert(0, event)
        del service.events[MAX_EVENTS:]
        stored["id"] = event["id"]
    for key, attribute, field in (
        ("running_count", "running_count", "runningCount"),
        ("pending_count", "pending_count", "pendingCount"),
    ):
        if body.get(key) is not None:
            value = int(body[key])
            setattr(service, attribute, value)
            for deployment in service.deployments:
                if deployment.get("status") == "PRIMARY":
                    deployment[field] = value
            stored[key] = value
    changed = False
    for key, last, desired in (
        ("pending_tasks", "PENDING", "RUNNING"),
        ("running_tasks", "RUNNING", "RUNNING"),
        ("deactivating_tasks", "DEACTIVATING", "STOPPED"),
    ):
        pinned = set(body.get(key) or [])
        if pinned:
            reason = str(body.get("stopped_reason") or "") if desired == "STOPPED" else ""
            changed |= _pin(service, pinned, last, desired, reason, body.get("network_bindings") or {})
            stored[key] = sorted(pinned)
    if changed:  # the lab's ECS readers (scheduler, agents) follow ECS's writes
        moto_changes.bump("ecs")
    return stored


def _pin(service, task_arns: set, last: str, desired: str, reason: str, bindings: dict) -> bool:
    """The service's tasks ``task_arns`` keep ``lastStatus`` ``last`` (and ``desiredStatus`` ``desired``) until
    ``stop_task``, which still sets both to STOPPED. Returns whether a task's status changed."""
    from moto.ecs.models import ecs_backends  # moto: the emulator's own process

    backend = ecs_backends[service._account_id][service.region_name]
    changed = False
    for task_arn, task in backend.tasks.get(service.cluster_name, {}).items():
        if task_arn in task_arns and task.last_status != "STOPPED":
            changed |= (task.last_status, task.desired_status) != (last, desired)
            task._transitions = []  # ManagedState: no next status
            task.status = last
            task.desired_status = desired
            if reason:
                task.stopped_reason = reason
            if last == "RUNNING" and getattr(task, "started_at", None) is None:
                task.started_at = datetime.now(UTC)
            _bind(task, bindings.get(task_arn) or [], last)
    return changed


def _bind(task, bindings: list, last: str) -> None:
    """Each container's ``networkBindings`` and ``lastStatus``. moto lists the first container of a task
    definition only: one entry per container named in ``bindings`` (with its ``image``) is added, as AWS
    lists every container."""
    for binding in bindings:
        name = binding.get("containerName")
        container = next((c for c in task.containers if c.name == name), None)
        if container is None and task.containers:
            container = copy.copy(task.containers[0])
            container.name, container.image, container.network_bindings = name, binding.get("image"), []
            container.container_arn = f"{container.container_arn.rsplit('/', 1)[0]}/{uuid.uuid4()}"
            task.containers.append(container)
        if container is not None:
            entry = {k: binding[k] for k in ("bindIP", "containerPort", "hostPort", "protocol") if k in binding}
            if entry not in getattr(container, "network_bindings", []):
                container.network_bindings = [*getattr(container, "network_bindings", []), entry]
    if last == "RUNNING":
        for container in task.containers:
            container.last_status = "RUNNING"


def wsgi(environ, start_response):
    """The route's WSGI handler: 200 with what was stored, 400 with why not."""
    if environ.get("REQUEST_METHOD") != "POST":
        start_response("405 Method Not Allowed", [("Content-Type", "application/json")])
        return [b'{"error": "POST only"}']
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        signer = environ.get("HTTP_X_MOTO_ACCOUNT_ID")  # a room's door names the signer's account
        if signer:  # a learner writes only to services of their own account
            cluster = str(body.get("cluster", ""))
            if cluster.startswith("arn:") and cluster.split(":")[4] != signer:
                start_response("403 Forbidden", [("Content-Type", "application/json")])
                return [json.dumps({"error": f"{cluster} is not in account {signer}"}).encode()]
            body["account"] = signer
        result = apply(body)
    except (BadRequest, ValueError, KeyError) as error:
        start_response("400 Bad Request", [("Content-Type", "application/json")])
        return [json.dumps({"error": str(error)}).encode()]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(result).encode()]
