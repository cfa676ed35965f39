"""The traffic lab in a workshop room: two learners, one room emulator, a lab each (issue 24, item 1).

Each learner's lab reads the room with their credential and signs its own writes (target health, ECS's
service events) with it, so the room applies them to that learner's account only
(helpers/runtime/emulator_api.py, helpers/runtime/room_gate.py). The run: tests/support/room_lab_support.py.
The load balancer's answers are the ones AWS documents
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html):
504 when no connection to a target is made within 10 s.

The run takes as long as the course (two applies, then real health checks), mostly waiting:
tests/plugin/session.py starts it in the background with the course, and these tests read it after
notebook 09 (after_course). Run alone (``pytest tests/workshop/test_room_lab.py``) it runs in the
foreground.
"""

from __future__ import annotations

import json

import pytest

from tests.support import lab_support
from tests.support.room_lab_support import LEARNERS, RoomLabRun


@pytest.fixture(scope="module")
def room_lab_run(request):
    lab_support.require_kernel()
    run = getattr(request.config, "course_room_lab", None) or RoomLabRun.start()
    return run.wait()


@pytest.mark.after_course
def test_after_course_each_learner_applies_and_runs_a_lab_against_their_own_account_in_the_room(room_lab_run):
    assert room_lab_run["url_is_loopback"]
    failed = {n: s for n, steps in room_lab_run["apply"].items() for s in steps if s["code"]}
    assert not failed, failed
    assert set(room_lab_run["up"]) == set(LEARNERS)
    ana, ben = (room_lab_run[name] for name in LEARNERS)
    assert ana["account"] != ben["account"], "an account each"
    for learner in (ana, ben):
        assert learner["lab_instances"] == learner["instances"] and learner["instances"], "the lab runs their own"
    assert not set(ana["instances"]) & set(ben["instances"]), "neither lab runs the other's instances"


@pytest.mark.after_course
@pytest.mark.parametrize("name", LEARNERS)
def test_after_course_each_learner_sees_their_own_200_then_504_then_200(room_lab_run, name):
    seen = room_lab_run[name]
    assert seen["healthy"], "the targets turned healthy: the lab's health writes reached the learner's account"
    assert seen["first"]["status"] == 200 and json.loads(seen["first"]["body"])["ok"] is True
    assert seen["synced"], "the lab followed the port-80 rule"
    assert seen["port_80"]["status"] == 504 and seen["port_80"]["seconds"] >= 10, seen["port_80"]
    assert seen["fixed_healthy"] and seen["fixed"]["status"] == 200


@pytest.mark.after_course
@pytest.mark.parametrize("name", LEARNERS)
def test_after_course_one_learners_failure_leaves_the_others_targets_healthy(room_lab_run, name):
    """While one learner's targets time out behind the port-80 rule, the other's stay healthy: each lab writes
    target health to its own learner's account only. (A target the other learner's own lesson left draining
    may still be there: ECS replaced it during that learner's 504.)"""
    seen = room_lab_run[name]
    assert seen["other_before"], "the other learner's targets were healthy before"
    healthy_before = {(i, p) for i, p, state in seen["other_before"] if state == "healthy"}
    during = {(i, p): state for i, p, state in seen["other_during"]}
    assert {target: during.get(target) for target in healthy_before} == dict.fromkeys(healthy_before, "healthy")
    assert "unhealthy" not in during.values(), seen["other_during"]


@pytest.mark.after_course
def test_after_course_both_labs_leave_nothing_behind(room_lab_run):
    left = room_lab_run["namespaces_left"]
    assert left == {name: [] for name in LEARNERS}, left
    assert all(room_lab_run["down_removed"][name] > 0 for name in LEARNERS)
