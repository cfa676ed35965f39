"""ECS in the lab: one scheduler per cluster (placement, replacement, service events: helpers/lab/ecs/scheduler.py)
and one agent per instance (registration, containers, targets, draining: helpers/lab/ecs/agent.py), handing
tasks to each other through ECS's own state, so each test checks what a learner sees: ``describe_services``'
events and counts, ``describe_tasks`` (``containerInstanceArn``, ``lastStatus``, ``networkBindings``,
``stoppedReason``) and ``describe_target_health``.

Against the session's emulator (real ECS/EC2/ELBv2 APIs); containers are real processes in a throwaway instance
namespace (tests/lab/test_containers.py's fixtures). Needs root: skipped otherwise, failed instead when CI is
set. An unhealthy target is written as the lab's ALB nodes write it (``health.publish``: the emulator's
``POST /_course/lab/target-health``), so ``describe_target_health`` says ``unhealthy``.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from botocore.exceptions import EndpointConnectionError

from helpers.errors import CourseError
from helpers.lab.alb import health
from helpers.lab.ecs import agent as lab_agent
from helpers.lab.ecs import containers, events, scheduler
from helpers.runtime import aws, cloud
from tests.lab import test_containers as base
from tests.lab.test_containers import INSTANCE_ADDRESS, WEB_CONTAINERS, fetch_retrying
from tests.support.waiting import wait_until

# The throwaway instance namespace and this test's own <ws>, shared with the container tests.
instance_ns = base.instance_ns
lab_ws = base.lab_ws

# Seconds for an agent process to start (its imports, under a busy make test) and register, or for a pass of the
# scheduler and one of the agent to start a task: the agent looks every POLL (1 s); the rest is this machine's
# load, so the bound is wide (as tests/lab/test_alb.py's NODE_START). Nothing here depends on being fast.
PROCESS_START = 30.0
USER_DATA = '#!/bin/bash\necho "ECS_CLUSTER={cluster}" >> /etc/ecs/ecs.config\n'


def _wait_out(moment: float) -> None:
    """Until the agent's own clock has passed ``moment`` (``time.monotonic``: a task's grace period or drain ends
    then), so that its next pass acts on it: the agent decides by that clock, not by how long a test waited."""
    time.sleep(max(0.0, moment - time.monotonic()) + 0.01)


def _names(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def course_like(emulator_url):
    """A cluster, an instance whose user data names it, the web task definition, a target group, a service."""
    ec2, ecs, elbv2 = aws.client("ec2"), aws.client("ecs"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.0.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    cluster = _names("lab-agent")
    user_data = USER_DATA.format(cluster=cluster)  # boto3 base64-encodes UserData itself
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet, UserData=user_data, InstanceType="t3.small"
    )["Instances"][0]["InstanceId"]
    ecs.create_cluster(clusterName=cluster)
    definition = ecs.register_task_definition(
        family=cluster,
        networkMode="bridge",
        requiresCompatibilities=["EC2"],
        memory="256",
        containerDefinitions=WEB_CONTAINERS,
    )["taskDefinition"]["taskDefinitionArn"]
    group = elbv2.create_target_group(Name=cluster, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=group, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}]
    )
    ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition=definition,
        desiredCount=2,
        launchType="EC2",
        healthCheckGracePeriodSeconds=1,
        loadBalancers=[{"targetGroupArn": group, "containerName": "nginx", "containerPort": 80}],
    )
    yield {"cluster": cluster, "instance": instance, "group": group, "definition": definition, "vpc": vpc}
    ecs.update_service(cluster=cluster, service="web", desiredCount=0)
    ecs.delete_service(cluster=cluster, service="web", force=True)
    ec2.terminate_instances(InstanceIds=[instance])


@pytest.fixture
def agent(instance_ns, lab_ws, tmp_path, course_like, emulator_url):
    the_agent = lab_agent.Agent(
        emulator_url,
        cloud.region(),
        course_like["instance"],
        instance_ns,
        INSTANCE_ADDRESS,
        ws=lab_ws,
        workdir=tmp_path / "lab",
        stop_timeout=5,
    )
    try:
        yield the_agent
    finally:
        the_agent.shutdown()
        assert not containers.leftover_namespaces(lab_ws)


@pytest.fixture
def cluster_scheduler(course_like, emulator_url):
    """The cluster's scheduler, stepped by the test (the supervisor runs it as a thread: program())."""
    return scheduler.Scheduler(emulator_url, cloud.region(), course_like["cluster"])


def _settle(the_scheduler, the_agent) -> None:
    """A scheduler pass (places), an agent pass (runs), a scheduler pass (counts, steady state)."""
    the_scheduler.step()
    the_agent.step()
    the_scheduler.step()


def _tasks(cluster: str, service: str = "web", desired: str = "RUNNING") -> list[dict]:
    """describe_tasks of the service's tasks with this desired status."""
    ecs = aws.client("ecs")
    arns = ecs.list_tasks(cluster=cluster, desiredStatus=desired)["taskArns"]
    described = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    return [t for t in described if t.get("group") == f"service:{service}"]


def _host_ports(task: dict) -> list[int]:
    return [b["hostPort"] for c in task["containers"] for b in c.get("networkBindings") or []]


def _events(cluster: str) -> list[str]:
    service = aws.client("ecs").describe_services(cluster=cluster, services=["web"])["services"][0]
    return [event["message"] for event in service["events"]]


def _targets(group: str) -> list[tuple[str, int]]:
    health = aws.client("elbv2").describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    return sorted((d["Target"]["Id"], d["Target"]["Port"]) for d in health)


def _health(group: str) -> dict[tuple[str, int], tuple]:
    """(id, port) → (State, Reason) of every target describe_target_health lists."""
    health = aws.client("elbv2").describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    return {
        (d["Target"]["Id"], d["Target"]["Port"]): (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
        for d in health
    }


def test_cluster_comes_from_the_user_data_else_default():
    """ECS_CLUSTER in /etc/ecs/ecs.config, written by the launch template's script; none → "default".

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-agent-config.html
    """
    script = USER_DATA.format(cluster="course-learner")
    assert lab_agent.cluster_from_user_data(base64.b64encode(script.encode()).decode()) == "course-learner"
    assert lab_agent.cluster_from_user_data(script) == "course-learner"
    assert lab_agent.cluster_from_user_data("") == "default"
    assert lab_agent.cluster_from_user_data("#!/bin/bash\n# ECS_CLUSTER=commented\n") == "default"


def test_agent_runs_the_desired_tasks_and_registers_their_targets(agent, cluster_scheduler, course_like, instance_ns):
    """The scheduler places desired_count tasks on the container instance (describe_tasks: its
    containerInstanceArn, PENDING); the agent runs them (RUNNING, networkBindings with the host ports it chose),
    their containers answer there, and each (instance id, host port) is a target of the service's group.

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-load-balancing.html
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages.html
    """
    ecs, cluster = aws.client("ecs"), course_like["cluster"]
    arn = agent.register()
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"][0]
    assert described["ec2InstanceId"] == course_like["instance"]
    cluster_scheduler.step()
    placed = _tasks(cluster)
    assert len(placed) == 2 and {(t["containerInstanceArn"], t["lastStatus"]) for t in placed} == {(arn, "PENDING")}
    assert _targets(course_like["group"]) == [], "placed, not yet running: no target"
    agent.step()
    running = _tasks(cluster)
    assert {t["lastStatus"] for t in running} == {"RUNNING"} and set(agent.tasks) == {t["taskArn"] for t in placed}
    low, high = agent.host.port_range()
    ports = sorted(port for task in running for port in _host_ports(task))
    assert len(set(ports)) == 2 and all(low <= p <= high for p in ports)
    assert _targets(course_like["group"]) == [(course_like["instance"], p) for p in ports]
    # Handed to the lab's health checks before the first registration: a new target is not moto's instant
    # "healthy" but initial until a check passes (none runs here: no ALB node), as on AWS.
    assert set(_health(course_like["group"]).values()) == {("initial", "Elb.RegistrationInProgress")}
    for port in ports:
        status, body = fetch_retrying(instance_ns, f"http://{INSTANCE_ADDRESS}:{port}/")
        assert status == 200 and json.loads(body) == {"ok": True, "path": "/"}
    cluster_scheduler.step()
    events_now = _events(cluster)
    started = [e for e in events_now if e.startswith("(service web) has started 2 tasks: ")]
    assert len(started) == 1 and all(f"(task {t['taskArn'].rsplit('/', 1)[-1]})" in started[0] for t in placed)
    assert events_now.count(events.registered_message("web", 1, course_like["group"])) == 2
    service = ecs.describe_services(cluster=cluster, services=["web"])["services"][0]
    assert (service["runningCount"], service["pendingCount"]) == (2, 0)
    assert events_now[0] == events.steady_message("web")
    _settle(cluster_scheduler, agent)  # steady: nothing more is started
    assert len(_tasks(cluster)) == 2 and _events(cluster).count(events.steady_message("web")) == 1


def test_unhealthy_target_gets_its_task_replaced_on_a_new_host_port(agent, cluster_scheduler, course_like):
    """After the grace period, a task whose target describe_target_health calls unhealthy is stopped: ECS says
    so at once, the task is DEACTIVATING, its target drains (deregistration_delay), then it is STOPPED with
    ECS's reason; the replacement, started in the same pass, runs on a new host port.

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-unhealthy-event-messages.html
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay
    """
    ecs, cluster, group, instance = (
        aws.client("ecs"),
        course_like["cluster"],
        course_like["group"],
        course_like["instance"],
    )
    agent.register()
    _settle(cluster_scheduler, agent)
    victim = sorted(_tasks(cluster), key=lambda t: _host_ports(t)[0])[0]
    victim_id, old_port = victim["taskArn"].rsplit("/", 1)[-1], _host_ports(victim)[0]
    containers_of_victim = agent.tasks[victim["taskArn"]].containers
    timeout = health.Health("unhealthy", "Target.Timeout", "Request timed out")
    health.publish(agent.endpoint, group, {(instance, old_port): timeout})  # as an ALB node writes it
    time.sleep(1.1)  # healthCheckGracePeriodSeconds = 1, from the task's startedAt
    cluster_scheduler.step()
    agent.step()
    _assert_deactivating(ecs, cluster, victim["taskArn"])
    assert ecs.describe_tasks(cluster=cluster, tasks=[victim["taskArn"]])["tasks"][0]["stoppedReason"] == (
        events.unhealthy_reason(group)
    )
    live = _tasks(cluster)
    ports = {p for t in live for p in _host_ports(t)}
    assert len(live) == 2 and len(ports) == 2 and old_port not in ports
    assert _health(group)[(instance, old_port)][0] == "draining"  # deregistered, listed while it drains
    assert containers_of_victim[0].running()  # still draining
    _wait_out(agent.tasks[victim["taskArn"]].draining_until)  # deregistration_delay = 1
    agent.step()
    assert victim["taskArn"] not in agent.tasks and not containers_of_victim[0].running()
    assert (instance, old_port) not in _targets(group)
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[victim["taskArn"]])["tasks"][0]
    assert (stopped["lastStatus"], stopped["stoppedReason"]) == ("STOPPED", events.unhealthy_reason(group))
    assert len(_tasks(cluster)) == 2
    events_now = _events(cluster)
    group_name = group.split(":targetgroup/")[-1].split("/")[0]
    expected = [
        events.draining_message("web", 1),
        events.deregistered_message("web", 1, group),
        events.stopped_message("web", [victim_id]),
        events.unhealthy_message("web", victim_id, instance, old_port, group_name, "Request timed out"),
    ]
    positions = [events_now.index(message) for message in expected]
    # newest first: ECS says "has stopped" as it decides, right after "is unhealthy", before the target is
    # deregistered and drains (a real service's events: github.com/hackforla/CivicTechJobs/issues/436)
    assert positions == sorted(positions)
    assert events_now.count(expected[2]) == 1, "the drained task's stop writes no second event"


def test_two_unhealthy_tasks_in_one_pass_get_their_own_pair_of_events(agent, cluster_scheduler, course_like):
    """Both targets unhealthy at once (07's port-80 rule): each task gets "is unhealthy" then "has stopped 1
    running tasks", as ECS writes them per task; both are replaced in the same pass.

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-unhealthy-event-messages.html
    """
    cluster, group, instance = course_like["cluster"], course_like["group"], course_like["instance"]
    agent.register()
    _settle(cluster_scheduler, agent)
    first = {t["taskArn"].rsplit("/", 1)[-1]: _host_ports(t)[0] for t in _tasks(cluster)}
    timeout = health.Health("unhealthy", "Target.Timeout", "Request timed out")
    health.publish(agent.endpoint, group, {(instance, port): timeout for port in first.values()})
    time.sleep(1.1)  # healthCheckGracePeriodSeconds = 1, from the tasks' startedAt
    cluster_scheduler.step()
    events_now = _events(cluster)
    group_name = group.split(":targetgroup/")[-1].split("/")[0]
    for task_id, port in first.items():
        unhealthy = events.unhealthy_message("web", task_id, instance, port, group_name, "Request timed out")
        stopped = events.stopped_message("web", [task_id])
        assert events_now.index(stopped) == events_now.index(unhealthy) - 1, "its stop right after its unhealthy"
    assert len(_tasks(cluster)) == 2 and not {t["taskArn"].rsplit("/", 1)[-1] for t in _tasks(cluster)} & set(first)


def test_a_task_definition_the_lab_cannot_run_is_an_event_naming_the_field(agent, cluster_scheduler, course_like):
    """awsvpc network mode: one event naming `networkMode`, no task placed; the other service still runs."""
    ecs, cluster = aws.client("ecs"), course_like["cluster"]
    awsvpc = ecs.register_task_definition(
        family=f"{cluster}-vpc", networkMode="awsvpc", containerDefinitions=[dict(WEB_CONTAINERS[1])]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName="vpc", taskDefinition=awsvpc, desiredCount=1, launchType="EC2")
    try:
        agent.register()
        _settle(cluster_scheduler, agent)
        cluster_scheduler.step()
        vpc_events = [
            e["message"] for e in ecs.describe_services(cluster=cluster, services=["vpc"])["services"][0]["events"]
        ]
        assert len(vpc_events) == 1 and "`networkMode`" in vpc_events[0] and "awsvpc" in vpc_events[0]
        assert not _tasks(cluster, "vpc") and len(_tasks(cluster)) == 2  # the web service still runs
    finally:
        ecs.delete_service(cluster=cluster, service="vpc", force=True)


def test_no_container_instance_event_from_the_clusters_scheduler(emulator_url):
    """A service in a cluster without container instances: ECS's "unable to place a task" event, once; the
    supervisor runs a scheduler for such a cluster (clusters_to_run).

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages.html
    """
    ecs = aws.client("ecs")
    cluster = _names("lab-empty")
    arn = ecs.create_cluster(clusterName=cluster)["cluster"]["clusterArn"]
    definition = ecs.register_task_definition(family=cluster, containerDefinitions=[dict(WEB_CONTAINERS[1])])[
        "taskDefinition"
    ]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=1)
    try:
        assert arn in scheduler.clusters_to_run(ecs, set())
        the_scheduler = scheduler.Scheduler(emulator_url, cloud.region(), cluster)
        the_scheduler.step()
        the_scheduler.step()  # not repeated
        assert _events(cluster) == [events.no_instances_message("web")]
    finally:
        ecs.delete_service(cluster=cluster, service="web", force=True)


def test_the_agent_process_joins_default_and_exits_cleanly_on_sigterm(instance_ns, lab_ws, tmp_path, emulator_url):
    """Run as a process: `python -m helpers.lab.ecs.agent --namespace NS ...`, beside the cluster's scheduler as
    the supervisor runs it (a thread: scheduler.program). No ECS_CLUSTER in the user data → the agent joins
    "default", creating it; the scheduler places the service's task there; SIGTERM → the agent stops it, exits 0.

    github.com/aws/amazon-ecs-agent ecs-agent/api/ecs/client/ecs_client.go (RegisterContainerInstance)
    """
    ec2, ecs = aws.client("ec2"), aws.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.98.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.98.0.0/24")["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0][
        "InstanceId"
    ]
    definition = ecs.register_task_definition(
        family=_names("lab-default"), containerDefinitions=[dict(WEB_CONTAINERS[1])]
    )["taskDefinition"]["taskDefinitionArn"]
    process = None
    service = _names("svc")
    stop_scheduler = threading.Event()
    try:
        # From the host's namespace: the emulator listens on the host's loopback, which no lab namespace
        # reaches; the agent enters the instance namespace itself (ip -n / ip netns exec) for all it does.
        argv = [sys.executable, "-m", "helpers.lab.ecs.agent", "--endpoint", emulator_url]
        argv += ["--region", cloud.region(), "--instance-id", instance, "--namespace", instance_ns]
        argv += [
            "--address",
            INSTANCE_ADDRESS,
            "--ws",
            lab_ws,
            "--workdir",
            str(tmp_path / "lab"),
            "--stop-timeout",
            "5",
        ]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def registered():
            clusters = ecs.describe_clusters(clusters=["default"])["clusters"]
            if not (clusters and clusters[0]["status"] == "ACTIVE"):
                return None
            arns = ecs.list_container_instances(cluster="default")["containerInstanceArns"]
            found = (
                ecs.describe_container_instances(cluster="default", containerInstances=arns)["containerInstances"]
                if arns
                else []
            )
            return next((c for c in found if c["ec2InstanceId"] == instance), None)

        ours = wait_until(registered, within=PROCESS_START, what="the agent's container instance", otherwise=None)
        assert ours, process.stdout.read() if process.poll() is not None else f"not registered in {PROCESS_START} s"
        ecs.create_service(cluster="default", serviceName=service, taskDefinition=definition, desiredCount=1)
        args = {"endpoint": emulator_url, "region": cloud.region(), "cluster": "default"}
        placing = threading.Thread(target=scheduler.program, args=(stop_scheduler, print), kwargs=args, daemon=True)
        placing.start()
        wait_until(lambda: containers.leftover_namespaces(lab_ws), within=PROCESS_START, what="the task's namespaces")
        assert len(containers.leftover_namespaces(lab_ws)) == 1  # the api container runs
        stop_scheduler.set()  # the lab stops its programs together: no new placement on a stopping agent
        placing.join(10)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, process.stdout.read()
        assert not containers.leftover_namespaces(lab_ws)
        running = ecs.list_tasks(cluster="default", desiredStatus="RUNNING")["taskArns"]
        described = ecs.describe_tasks(cluster="default", tasks=running)["tasks"] if running else []
        assert not [t for t in described if t.get("group") == f"service:{service}"]
    finally:
        stop_scheduler.set()
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)
        try:
            ecs.delete_service(cluster="default", service=service, force=True)
        except Exception:
            pass
        ec2.terminate_instances(InstanceIds=[instance])


def test_spread_places_on_the_instance_with_the_fewest_tasks():
    """spread by instanceId: a new task goes to the instance with the fewest of the service's tasks (a tie: the
    lower instance id).

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement-strategies.html
    """
    instances = [("i-b", "arn/b"), ("i-a", "arn/a")]
    assert [arn for _, arn in scheduler.spread_order(instances, {})] == ["arn/a", "arn/b"]
    assert [arn for _, arn in scheduler.spread_order(instances, {"arn/a": 1})] == ["arn/b", "arn/a"]
    assert [arn for _, arn in scheduler.spread_order(instances, {"arn/b": 2, "arn/a": 2})] == ["arn/a", "arn/b"]


def test_scale_in_takes_tasks_off_the_fullest_instance():
    """Scale-in keeps the spread: each task comes off the instance with the most of them (a tie: the higher
    instance id), the newest there first."""
    instances = [("i-a", "arn/a"), ("i-b", "arn/b")]
    tasks = [
        {"taskArn": "a1", "containerInstanceArn": "arn/a", "createdAt": 1},
        {"taskArn": "a2", "containerInstanceArn": "arn/a", "createdAt": 3},
        {"taskArn": "b1", "containerInstanceArn": "arn/b", "createdAt": 2},
    ]
    assert [t["taskArn"] for t in scheduler.removal_order(tasks, instances)] == ["a2", "b1", "a1"]


def test_service_event_route_refuses_what_it_cannot_find(emulator_url):
    """POST /_course/lab/service-event: an unknown service is a 400 with the reason, one message."""
    with pytest.raises(CourseError, match="no service 'nope'"):
        events.post(emulator_url, {"region": cloud.region(), "cluster": "no-such-cluster", "service": "nope"})


def test_an_exited_essential_container_gets_its_task_replaced(agent, cluster_scheduler, course_like):
    """A task whose essential container exits is stopped ("Essential container in task exited") and replaced.

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definition_essential
    """
    ecs, cluster = aws.client("ecs"), course_like["cluster"]
    agent.register()
    _settle(cluster_scheduler, agent)
    victim = next(iter(agent.tasks.values()))
    api = next(c for c in victim.containers if c.name == "api")
    containers._signal_group(api.process, 9)
    api.process.wait(10)
    assert agent.pass_due(agent.watch.look(), time.monotonic()), "a container exited: a pass is due"
    agent.step()
    assert victim.arn not in agent.tasks
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[victim.arn])["tasks"][0]
    assert (stopped["lastStatus"], stopped["stoppedReason"]) == ("STOPPED", events.EXITED_REASON)
    _settle(cluster_scheduler, agent)
    assert len(_tasks(cluster)) == 2 and {t["lastStatus"] for t in _tasks(cluster)} == {"RUNNING"}
    assert events.stopped_message("web", [victim.id]) in _events(cluster)


def _assert_deactivating(ecs, cluster: str, task_arn: str) -> None:
    """While its target drains, ECS shows the task DEACTIVATING, desired STOPPED: it is no longer among the
    service's running tasks.

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html (DEACTIVATING:
    "for tasks that are part of a service that's configured to use Elastic Load Balancing target groups, the
    target group deregistration occurs during this state")"""
    for _ in range(3):  # moto moves an unpinned task a step on each read: a pinned one stays
        described = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
        assert (described["lastStatus"], described["desiredStatus"]) == ("DEACTIVATING", "STOPPED")
    assert task_arn not in ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
    assert task_arn in ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]


def test_scale_in_drains_then_stops_a_task(agent, cluster_scheduler, course_like):
    """desired_count 2 → 1: ECS says it stopped one task; its target is deregistered and drains for
    deregistration_delay, then the task's containers stop (a deployment's events, as on AWS: "has stopped" first).

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay
    """
    ecs, cluster, group = aws.client("ecs"), course_like["cluster"], course_like["group"]
    agent.register()
    _settle(cluster_scheduler, agent)
    ecs.update_service(cluster=cluster, service="web", desiredCount=1)
    cluster_scheduler.step()
    agent.step()
    draining = [t for t in agent.tasks.values() if t.draining_until is not None]
    assert len(draining) == 1
    gone = (course_like["instance"], draining[0].targets[0][1])
    states = _health(group)  # the deregistered target is listed as draining while it drains, as on AWS
    assert len(states) == 2 and states[gone] == ("draining", "Target.DeregistrationInProgress")
    _assert_deactivating(ecs, cluster, draining[0].arn)
    stopped = events.stopped_message("web", [draining[0].id])
    # newest first: ECS says "has stopped" as it decides, then the target is deregistered and drains
    assert _events(cluster)[:3] == [
        events.draining_message("web", 1),
        events.deregistered_message("web", 1, group),
        stopped,
    ]
    _wait_out(draining[0].draining_until)  # deregistration_delay = 1
    agent.step()
    cluster_scheduler.step()
    assert len(_tasks(cluster)) == 1
    assert len(_targets(group)) == 1 and gone not in _health(group)  # drained: no longer listed
    assert _events(cluster).count(stopped) == 1, "the drained task's stop writes no second event"
    assert _events(cluster)[0] == events.steady_message("web")


def _failing_once(real):
    calls = []

    def call(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")  # the emulator, busy for a moment
        return real(**kwargs)

    return call


def test_a_stop_that_fails_halfway_is_finished_by_the_next_pass(agent, cluster_scheduler, course_like, monkeypatch):
    """ECS has said it stops a task, then deregistering its target fails: the next pass deregisters it and the
    drain goes on; its containers stop, then telling ECS fails: the next pass tells it. No task is left
    DEACTIVATING, or RUNNING, with nothing behind it."""
    ecs, cluster, group = aws.client("ecs"), course_like["cluster"], course_like["group"]
    agent.register()
    _settle(cluster_scheduler, agent)
    ecs.update_service(cluster=cluster, service="web", desiredCount=1)
    cluster_scheduler.step()
    monkeypatch.setattr(agent.elbv2, "deregister_targets", _failing_once(agent.elbv2.deregister_targets))
    with pytest.raises(EndpointConnectionError):
        agent.step()
    (task,) = [t for t in agent.tasks.values() if t.stop_reason]
    assert task.draining_until is None and agent.pass_due(None, time.monotonic())
    _assert_deactivating(ecs, cluster, task.arn)
    agent.step()
    assert task.draining_until is not None
    assert _health(group)[(course_like["instance"], task.targets[0][1])][0] == "draining"
    monkeypatch.setattr(agent.ecs, "stop_task", _failing_once(agent.ecs.stop_task))
    _wait_out(task.draining_until)  # deregistration_delay = 1
    with pytest.raises(EndpointConnectionError):
        agent.step()
    assert task.arn not in agent.tasks and not task.containers[0].running()
    _assert_deactivating(ecs, cluster, task.arn)  # ECS not told yet
    assert agent.pass_due(agent.watch.last, time.monotonic()), "a stop ECS has not heard of: a pass is due"
    agent.step()
    assert not agent.unstopped
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[task.arn])["tasks"][0]
    assert (stopped["lastStatus"], stopped["stoppedReason"]) == ("STOPPED", events.SCALE_IN_REASON)
    assert len(_tasks(cluster)) == 1
    events_now = _events(cluster)
    assert events_now.count(events.stopped_message("web", [task.id])) == 1
    assert events_now.count(events.deregistered_message("web", 1, group)) == 1


def test_a_restarted_agent_stops_the_tasks_nobody_runs_and_starts_new_ones(
    agent, cluster_scheduler, course_like, instance_ns, lab_ws, tmp_path
):
    """The agent process died with its tasks RUNNING (one DEACTIVATING) in ECS: the next one re-uses the
    registration and stops those orphans (as the real agent reconciles on reconnect); the scheduler places the
    desired count again and the new agent runs it."""
    ecs, cluster = aws.client("ecs"), course_like["cluster"]
    first_arn = agent.register()
    _settle(cluster_scheduler, agent)
    orphans = set(agent.tasks)
    dying = sorted(orphans)[0]  # ECS had decided to stop this one: DEACTIVATING, desired STOPPED
    events.post(
        agent.endpoint, {"region": agent.region, "cluster": cluster, "service": "web", "deactivating_tasks": [dying]}
    )
    _assert_deactivating(ecs, cluster, dying)
    for task in list(agent.tasks.values()):  # the process "dies": its containers go, ECS is not told
        for container in task.containers:
            agent.host.stop(container, timeout=5)
    agent.tasks.clear()
    second = lab_agent.Agent(
        agent.endpoint,
        agent.region,
        agent.instance_id,
        instance_ns,
        INSTANCE_ADDRESS,
        ws=lab_ws,
        workdir=tmp_path / "lab2",
        stop_timeout=5,
    )
    try:
        assert second.register() == first_arn
        _settle(cluster_scheduler, second)
        running = {t["taskArn"] for t in _tasks(cluster)}
        assert len(running) == 2 and not running & orphans and running == set(second.tasks)
        stopped = ecs.describe_tasks(cluster=cluster, tasks=sorted(orphans))["tasks"]
        assert {(t["lastStatus"], t["stoppedReason"]) for t in stopped} == {
            ("STOPPED", "The lab's ECS agent restarted")
        }
    finally:
        second.shutdown()


def test_a_deregistered_instance_joins_again_with_fresh_tasks(agent, cluster_scheduler, course_like, lab_ws):
    """Someone deregisters the container instance (or the emulator restarted empty): the agent stops
    the containers no ECS knows any more and registers again; the scheduler places the desired count anew."""
    cluster = course_like["cluster"]
    first = agent.register()
    _settle(cluster_scheduler, agent)
    old = {c.namespace for t in agent.tasks.values() for c in t.containers}
    aws.client("ecs").deregister_container_instance(cluster=cluster, containerInstance=first, force=True)
    agent.step()
    assert agent.container_instance and agent.container_instance != first and not agent.tasks
    _settle(cluster_scheduler, agent)
    # (moto keeps the old tasks RUNNING on the deregistered instance: its stop_task fails for them, and the
    # scheduler counts only tasks on ACTIVE instances, as the service scheduler replaces orphaned ones:
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeregisterContainerInstance.html)
    fresh = [t for t in _tasks(cluster) if t["containerInstanceArn"] == agent.container_instance]
    assert len(fresh) == 2 and {t["lastStatus"] for t in fresh} == {"RUNNING"}
    now = {c.namespace for t in agent.tasks.values() for c in t.containers}
    assert len(agent.tasks) == 2 and not now & old
    assert sorted(containers.leftover_namespaces(lab_ws)) == sorted(now)


def test_a_fixed_host_port_fits_one_task_per_instance(agent, cluster_scheduler, course_like):
    """hostPort fixed: the second task finds no instance with the port free; ECS's event says so, once.

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages.html
    """
    ecs, cluster = aws.client("ecs"), course_like["cluster"]
    fixed = dict(WEB_CONTAINERS[1], portMappings=[{"containerPort": 3000, "hostPort": 40600, "protocol": "tcp"}])
    definition = ecs.register_task_definition(family=f"{cluster}-fixed", containerDefinitions=[fixed])[
        "taskDefinition"
    ]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName="fixed", taskDefinition=definition, desiredCount=2)
    try:
        arn = agent.register()
        _settle(cluster_scheduler, agent)
        _settle(cluster_scheduler, agent)
        assert (
            len(_tasks(cluster, "fixed")) == 1 and len([t for t in agent.tasks.values() if t.service == "fixed"]) == 1
        )
        events_now = [
            e["message"] for e in ecs.describe_services(cluster=cluster, services=["fixed"])["services"][0]["events"]
        ]
        assert events_now.count(events.port_in_use_message("fixed", arn.rsplit("/", 1)[-1])) == 1
    finally:
        ecs.delete_service(cluster=cluster, service="fixed", force=True)


def test_an_agent_pass_runs_after_a_write_or_when_one_of_its_clocks_runs_out():
    """Agent.pass_due: the agent reads the emulator again after a write it acts on (helpers/lab/changes.py), or
    when a drain is over, a container exited or ECS has not heard of a stop, and otherwise only looks."""
    from types import SimpleNamespace

    from helpers.lab import changes

    now = {"t": 100.0}
    watch = changes.Watch("http://unused", lab_agent.WATCHED, every=60.0, clock=lambda: now["t"])
    watch.saw(("boot", 1, 1, 1, 1, 0))
    seen = watch.last
    running = SimpleNamespace(process=SimpleNamespace(poll=lambda: None))
    exited = SimpleNamespace(process=SimpleNamespace(poll=lambda: 0))
    task = lab_agent.RunningTask("arn:task/t1", "web", "def", [running], started=70.0)
    state = SimpleNamespace(passed_at=100.0, watch=watch, tasks={task.arn: task}, unstopped={})

    def due(at):
        now["t"] = at
        return lab_agent.Agent.pass_due(state, seen, at)

    assert not due(101.0), "nothing written, no clock ran out: only a look"
    assert lab_agent.Agent.pass_due(state, ("boot", 2, 1, 1, 1, 0), 101.0), "a write it acts on"
    task.containers = [exited]
    assert due(131.0), "a container exited"
    task.draining_until = 140.0
    assert not due(135.0), "a draining task's containers may end: nothing to do until the drain is over"
    assert due(140.0), "the drain is over"
    state.passed_at, task.draining_until, task.containers = 140.0, None, [running]
    assert not due(141.0)
    state.unstopped = {"arn:task/t0": events.SCALE_IN_REASON}
    assert due(141.0), "a stopped task ECS has not been told of: retried"


def test_a_scheduler_pass_runs_after_a_write_or_when_a_grace_period_ends():
    """Scheduler.pass_due: after a write it acts on, or when a running task's health-check grace period ended
    since the last pass (its target's health counts from then)."""
    from types import SimpleNamespace

    from helpers.lab import changes

    now = {"t": 100.0}
    watch = changes.Watch("http://unused", scheduler.WATCHED, every=60.0, clock=lambda: now["t"])
    watch.saw(("boot", 1, 1, 1, 1, 1, 0))
    state = SimpleNamespace(passed_at=100.0, watch=watch, grace_ends=[130.0])

    def due(at):
        now["t"] = at
        return scheduler.Scheduler.pass_due(state, watch.last, at)

    assert not due(101.0), "nothing written, no grace period ended: only a look"
    assert scheduler.Scheduler.pass_due(state, ("boot", 2, 1, 1, 1, 1, 0), 101.0), "a write it acts on"
    assert due(130.5), "a grace period ended since the last pass"
    state.passed_at = 130.5
    assert not due(131.0)
