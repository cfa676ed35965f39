"""The traffic lab's clients (``aws.emulator_client``): one lean botocore session per emulator, shared by all
of them; no boto3; service models without their documentation strings (helpers/runtime/aws.py). The
notebook's clients (``aws.client``) keep theirs, for help(). Each lab check runs in a fresh interpreter,
as the lab's supervisor does, and calls the emulator for real.
"""

from __future__ import annotations

import json
import subprocess
import sys

from helpers.runtime import aws, cloud

# One call per service the lab's programs use (helpers/lab/: the supervisor, ALB nodes, ECS agents, DNS).
PROBE = """
import json, sys
from helpers.runtime import aws
endpoint, region = sys.argv[1], sys.argv[2]
calls = {"ec2": ("describe_vpcs", "Vpcs"), "elbv2": ("describe_load_balancers", "LoadBalancers"),
         "ecs": ("list_clusters", "clusterArns"), "route53": ("list_hosted_zones", "HostedZones"),
         "acm": ("list_certificates", "CertificateSummaryList")}
answered, shared = {}, {}
for service, (method, key) in calls.items():
    client = aws.emulator_client(service, endpoint, region)
    shared[service] = client is aws.emulator_client(service, endpoint, region)
    answered[service] = type(getattr(client, method)()[key]).__name__
model = aws.emulator_client("ec2", endpoint, region).meta.service_model
print(json.dumps({
    "answered": answered,
    "shared": shared,
    "sessions": len(aws._lab_sessions),
    "boto3": "boto3" in sys.modules,
    "documentation": [model.documentation, model.operation_model("DescribeVpcs").documentation,
                      model.shape_for("Vpc").documentation],
}))
"""


def test_the_labs_clients_answer_from_one_lean_session_without_boto3(emulator_url):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, emulator_url, cloud.region()], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["answered"] == dict.fromkeys(["ec2", "elbv2", "ecs", "route53", "acm"], "list")
    assert all(seen["shared"].values()) and seen["sessions"] == 1, "one client per service, one session"
    assert seen["boto3"] is False, "the lab's clients loaded boto3"
    assert seen["documentation"] == ["", "", ""], "the lab's service models kept their documentation"


def test_the_notebooks_clients_keep_the_documentation(emulator_url):
    model = aws.client("ec2").meta.service_model
    assert "VPC" in model.operation_model("DescribeVpcs").documentation
