"""The traffic lab on terraform/: the course's lesson with real requests (tests/support/lab_e2e_support.py).

The run happens in the background beside the notebooks (started by tests/plugin/session.py; run
alone, this module runs it in the foreground). Each behaviour of the load balancer is the one the
AWS documentation gives:
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html
(503: no registered targets; 504: no connection within 10 s; the ALB routes to all targets when all are
unhealthy) and
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
(health checks, Target.Timeout).
"""

from __future__ import annotations

import json

import pytest

from tests.support import lab_support
from tests.support.lab_e2e_support import DOMAIN, LabRun


@pytest.fixture(scope="module")
def lab_run(request):
    lab_support.require_kernel()
    run = getattr(request.config, "course_lab", None) or LabRun.start("lab")
    return run.wait()


@pytest.mark.after_course
def test_after_course_the_lab_site_answers_200_through_dns_the_alb_and_nginx(lab_run):
    # How fast `lab up` is belongs to `make bench` (bench/lab.py, up_s), never to a test's verdict.
    assert lab_run["healthy"], "both targets turned healthy within the health checks' own timing"
    assert {port for _, port, _, _ in lab_run["healthy"]} <= set(range(32768, 61000)), "AL2023's ephemeral range"
    assert lab_run["https"]["status"] == 200, lab_run["https"]["error"]
    assert lab_run["https"]["verified"], "the lab's client verified the certificate for the name (the course's CA)"
    body = json.loads(lab_run["https"]["body"])
    assert body["ok"] is True and body["path"] == "/", "the Node.js API, through nginx"
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html
    assert body["forwarded"] == {"for": "198.51.100.10", "proto": "https", "port": "443"}, "the ALB's X-Forwarded-*"
    assert DOMAIN in (lab_run["https"]["subject"] or ""), "the listener's certificate for the course's domain"


@pytest.mark.after_course
def test_after_course_the_readmes_lab_exec_curl_gets_the_site(lab_run):
    """README.md's `python -m helpers lab exec -- curl -sk https://app.ecs-alb.example/`: the real curl, in the
    lab's internet, resolving the domain with the lab's DNS, through the ALB's TLS to nginx and Node.js."""
    readme = lab_run["lab_exec_curl"]
    assert readme["code"] == 0, readme["stderr"]
    assert json.loads(readme["body"])["ok"] is True and json.loads(readme["body"])["path"] == "/"


@pytest.mark.after_course
def test_after_course_lab_rules_shows_the_agents_port_mappings_beside_the_groups(lab_run):
    """Docker's bridge mode forwards each hostPort with a DNAT from the instance's address; lab rules shows it."""
    instance = lab_run["healthy"][0][0]
    ports = [port for target, port, _, _ in lab_run["healthy"] if target == instance]
    assert "from sg-" in lab_run["rules"] and "table ip lab_docker" in lab_run["rules"]
    for port in ports:
        assert f":{port} → 172.17." in lab_run["rules"] and ":80  dnat" in lab_run["rules"], lab_run["rules"]


@pytest.mark.after_course
def test_after_course_the_lab_redirects_http_to_https_as_aws_builds_the_location(lab_run):
    """https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html#redirect-actions"""
    assert lab_run["http"] == {"status": 301, "location": f"https://{DOMAIN}:443/path?q=1"}


@pytest.mark.after_course
def test_after_course_the_articles_port_80_rule_gives_504_and_no_registered_target_503(lab_run):
    """Port 80 only: the targets on 32768+ time out; every target unhealthy, the ALB fails open and waits its
    10 s for a connection (504); ECS replaces the failed tasks; with no registered target at all, 503."""
    assert lab_run["port_80_synced"] == "blocked", "the ALB's nodes may no longer reach the targets' port"
    assert lab_run["port_80_first"]["status"] == 504
    assert lab_run["port_80_first"]["seconds"] >= 10, "the ALB waits 10 s for a connection"
    assert "Target.Timeout" in lab_run["port_80_reasons"] or any(
        "is unhealthy in (target-group" in e and "Request timed out" in e for e in lab_run["events"]
    ), lab_run["events"][:5]
    assert lab_run["port_80_replaced"], lab_run["port_80_reasons"]
    assert any("has begun draining" in e for e in lab_run["events"]), "ECS replaced the tasks"
    assert lab_run["port_80_later"] in (503, 504)  # 503 only in a moment when no target is registered
    assert lab_run["none_registered"] and lab_run["no_target"] == 503, (
        f"no registered targets: {lab_run['no_target_answers']}"
    )


@pytest.mark.after_course
def test_after_course_restoring_the_lockdown_rule_brings_the_200_back(lab_run):
    assert lab_run["fixed_healthy"], "the replacement targets turned healthy"
    assert lab_run["fixed"]["status"] == 200 and json.loads(lab_run["fixed"]["body"])["ok"] is True


@pytest.mark.after_course
def test_after_course_the_articles_instance_group_lets_the_internet_past_the_alb(lab_run):
    assert lab_run["bypass_probe"] == "reachable"
    assert lab_run["bypass"]["status"] == 200, "a task answered the internet directly at the instance's address"
    assert lab_run["bypass_closed_probe"] == "blocked", "dropped once the rule is gone"


@pytest.mark.after_course
def test_after_course_lab_down_leaves_nothing(lab_run):
    assert lab_run["down_removed"] > 0 and lab_run["namespaces_left"] == []
