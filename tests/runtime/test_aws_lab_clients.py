"""The traffic lab's clients (``aws.emulator_client``): one lean botocore session per emulator, shared by all
of them; no boto3; service models without their documentation strings (helpers/runtime/aws.py). The
notebook's clients (``aws.client``) keep theirs, for help(). Each lab check runs in a fresh interpreter,
as the lab's supervisor does, and calls the emulator for real.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import botocore.session

from helpers.runtime import aws, cloud

LAB = Path(aws.__file__).resolve().parents[1] / "lab"

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


def services_the_lab_calls() -> set[str]:
    """The service names on the lab's lines that make its clients (emulator_client, the supervisor's _client)."""
    known = set(botocore.session.Session().get_available_services())
    lines = [line for path in LAB.rglob("*.py") for line in path.read_text().splitlines()]
    asking = [line for line in lines if "emulator_client(" in line or "self._client(" in line]
    return {name for line in asking for name in re.findall(r'"([a-z0-9-]+)"', line) if name in known}


def test_the_labs_endpoints_resolve_and_sign_as_with_botocores_whole_file(emulator_url):
    """endpoints.json trimmed to LAB_ENDPOINT_PREFIXES: each service the lab calls keeps its endpoint data,
    so its client resolves and signs as one made from botocore's whole file (partition, signing name, region)."""
    called = services_the_lab_calls()
    assert {"ec2", "elbv2", "ecs", "route53", "acm"} <= called, f"the lab's client lines changed: {sorted(called)}"
    whole = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    region, (key, secret) = cloud.region(), aws.emulator.credentials()
    for service in sorted(called):
        lean = aws.emulator_client(service, emulator_url, region)
        full = whole.create_client(
            service, region_name=region, endpoint_url=emulator_url, aws_access_key_id=key, aws_secret_access_key=secret
        )
        assert lean.meta.service_model.endpoint_prefix in aws.LAB_ENDPOINT_PREFIXES, service
        seen = [(c.meta.partition, c._request_signer.signing_name, c._request_signer.region_name) for c in (lean, full)]
        assert seen[0] == seen[1], service


def test_the_labs_service_models_read_shape_by_shape_are_botocores_without_documentation():
    """_service_model reads a service-2.json member by member (its shapes kept as text, each parsed when asked
    for): the model it gives equals botocore's own reading of the file with the documentation emptied."""
    whole = botocore.session.Session().get_component("data_loader")
    lean = aws._lab_session().get_component("data_loader")
    for service in sorted(services_the_lab_calls()):
        expected = json.loads(
            json.dumps(whole.load_service_model(service, "service-2")), object_pairs_hook=aws._without_documentation
        )
        model = lean.load_service_model(service, "service-2")
        assert isinstance(model["shapes"], aws.ShapesAsText), service
        assert {**model, "shapes": dict(model["shapes"])} == expected, service
