"""What the lab's ECS agent writes into moto that no AWS API can: service events and task counts.

``POST /_course/lab/service-event`` (helpers/runtime/emulator_server.py) with JSON::

    {"region": "us-east-1", "cluster": "NAME or ARN", "service": "NAME or ARN",
     "message": "(service web) has started 1 tasks: (task 0123...).",     # optional
     "running_count": 2, "pending_count": 0,                              # optional
     "running_tasks": ["arn:aws:ecs:...:task/..."],                       # optional
     "deactivating_tasks": ["arn:aws:ecs:...:task/..."]}                  # optional

adds the event so that ``describe_services`` lists it first (ECS returns a service's
events newest first, at most 100:
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Service.html, ``events``),
and sets the service's (and its primary deployment's) running and pending counts, which
moto never changes because it runs no task. ``running_tasks`` (tasks the lab's agent has
started) keep ``lastStatus`` RUNNING until ``stop_task``: moto otherwise moves every task a
step towards STOPPED each time ``describe_tasks`` reads it (its ManagedState for "ecs::task").
``deactivating_tasks`` (tasks ECS has decided to stop, whose targets drain) get ``desiredStatus`` STOPPED
and ``lastStatus`` DEACTIVATING until ``stop_task``, as ECS shows them while it deregisters their targets
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html, DEACTIVATING):
``list_tasks(desiredStatus="RUNNING")`` no longer lists them.

Runs inside the emulator process only (it imports moto).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

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
    for key, last, desired in (
        ("running_tasks", "RUNNING", "RUNNING"),
        ("deactivating_tasks", "DEACTIVATING", "STOPPED"),
    ):
        pinned = set(body.get(key) or [])
        if pinned:
            _pin(service, pinned, last, desired)
            stored[key] = sorted(pinned)
    return stored


def _pin(service, task_arns: set, last: str, desired: str) -> None:
    """The service's tasks ``task_arns`` keep ``lastStatus`` ``last`` (and ``desiredStatus`` ``desired``) until
    ``stop_task``, which still sets both to STOPPED."""
    from moto.ecs.models import ecs_backends  # moto: the emulator's own process

    backend = ecs_backends[service._account_id][service.region_name]
    for task_arn, task in backend.tasks.get(service.cluster_name, {}).items():
        if task_arn in task_arns and task.last_status != "STOPPED":
            task._transitions = []  # ManagedState: no next status
            task.status = last
            task.desired_status = desired


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
