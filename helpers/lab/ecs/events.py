"""ECS's service events as ECS words them, the reasons a stopped task shows, and the one way to write them.

The wording of ``describe_services``' ``events`` (newest first, at most 100):
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages.html and
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-unhealthy-event-messages.html.
A real service's events in order, "is unhealthy" and "has stopped" 46 ms apart, "deregistered" after them:
github.com/hackforla/CivicTechJobs/issues/436: each unhealthy task has its own pair. Tasks started, or stopped
by a scale-in, in one scheduler pass are one event ("has started 2 tasks: (task a) (task b).").

No AWS API writes a service's events or its counts, so the lab's scheduler and agents write them through the
emulator's own route, ``POST /_course/lab/service-event`` (helpers/runtime/moto_lab_ecs.py): ``post``.
"""

from __future__ import annotations

import json
import urllib.error

from ...errors import CourseError
from ...runtime import emulator_api
from ...runtime.emulator_routes import LAB_SERVICE_EVENT

# A task's stoppedReason (describe_tasks) when the scheduler stops it: https://repost.aws/knowledge-center/ecs-task-stopped
UNHEALTHY_REASON = "Task failed ELB health checks"  # its start; ECS names the group: unhealthy_reason()
SCALE_IN_REASON = "Scaling activity initiated by deployment"
EXITED_REASON = "Essential container in task exited"


def unhealthy_reason(target_group_arn: str) -> str:
    """A task stopped for its load balancer's health checks, as ECS writes its stoppedReason: "Task failed ELB
    health checks in (target-group arn:aws:elasticloadbalancing:...)" (the target group's whole ARN)."""
    return f"{UNHEALTHY_REASON} in (target-group {target_group_arn})"


def _tasks(task_ids: list[str]) -> str:
    return " ".join(f"(task {t})" for t in task_ids)


def started_message(service: str, task_ids: list[str]) -> str:
    return f"(service {service}) has started {len(task_ids)} tasks: {_tasks(task_ids)}."


def stopped_message(service: str, task_ids: list[str]) -> str:
    return f"(service {service}) has stopped {len(task_ids)} running tasks: {_tasks(task_ids)}."


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


def cannot_run_message(service: str, definition_arn: str, why: str) -> str:
    """The lab's own event (no ECS wording): a task definition it cannot run, naming the field."""
    return f"(service {service}) the lab cannot run {definition_arn}: {why}."


def failed_to_start_message(service: str, task_id: str, why: str) -> str:
    """The lab's own event: a task whose containers could not start here."""
    return f"(service {service}) (task {task_id}) failed to start: {why}"


def post(endpoint: str, body: dict, timeout: float = 5.0) -> dict:
    """POST /_course/lab/service-event: an event, counts and task states on one service."""
    try:
        return json.loads(emulator_api.call(endpoint, LAB_SERVICE_EVENT, body, timeout=timeout) or b"{}")
    except urllib.error.HTTPError as error:
        raise CourseError(
            f"The emulator refused a lab service event: {error.read().decode(errors='replace')}",
            f"POST {LAB_SERVICE_EVENT} answered {error.code}.",
            "restart the emulator (python -m helpers emulator stop; start) so it has the lab's routes.",
        ) from None
