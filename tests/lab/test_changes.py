"""The emulator counts the writes it serves, per AWS service, and the lab reads its state again only after one
(helpers/runtime/moto_changes.py, helpers/lab/changes.py). Against the session's real emulator, with boto3."""

from __future__ import annotations

import io
import uuid

from helpers.lab import changes
from helpers.runtime import aws, moto_changes

SERVICES = ("ec2", "elasticloadbalancing", "ecs", "route53")


def _counts(watch: changes.Watch) -> dict[str, int]:
    seen = watch.look()
    assert seen is not None, "the emulator answers GET /_course/changes"
    return dict(zip(watch.services, seen[1:], strict=True))


def test_reads_count_nothing_and_each_write_counts_for_its_own_service(emulator_url):
    watch = changes.Watch(emulator_url, SERVICES)
    ec2, elbv2, ecs, route53 = (aws.client(s) for s in ("ec2", "elbv2", "ecs", "route53"))
    before = _counts(watch)
    ec2.describe_vpcs()  # query protocol
    elbv2.describe_load_balancers()
    ecs.list_clusters()  # JSON protocol
    route53.list_hosted_zones()  # REST, GET
    assert _counts(watch) == before, "reads change nothing"

    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    after_vpc = _counts(watch)
    assert after_vpc == {**before, "ec2": before["ec2"] + 1}
    name = f"changes-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=name)
    zone = route53.create_hosted_zone(Name=f"{name}.example.", CallerReference=name)["HostedZone"]["Id"]
    assert _counts(watch) == {**after_vpc, "ecs": before["ecs"] + 1, "route53": before["route53"] + 1}

    route53.delete_hosted_zone(Id=zone)
    ecs.delete_cluster(cluster=name)
    ec2.delete_vpc(VpcId=vpc)
    assert _counts(watch)["ec2"] == before["ec2"] + 2


def test_an_unsigned_write_counts_for_every_reader():
    """moto's own API (``POST /moto-api/reset``: the course's reset, signed in a room) concerns every reader."""
    reset = {"REQUEST_METHOD": "POST", "PATH_INFO": "/moto-api/reset", "wsgi.input": io.BytesIO(b"")}
    assert moto_changes.written_service(reset) == moto_changes.UNSIGNED == changes.ALWAYS[0]
    signed_reset = dict(
        reset, HTTP_AUTHORIZATION="AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/moto/aws4_request"
    )
    assert moto_changes.written_service(signed_reset) == moto_changes.UNSIGNED, "a room's reset is signed, for 'moto'"
    body = b"Action=DescribeSecurityGroups&Version=2016-11-15"
    signed_read = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ec2/aws4_request, Signature=0",
    }
    assert moto_changes.written_service(signed_read) is None
    assert signed_read["wsgi.input"].read() == body, "moto reads the body again"


def test_a_watch_reads_after_a_change_a_restart_or_a_few_seconds():
    now = {"t": 0.0}
    watch = changes.Watch("http://unused", ("ec2",), every=5.0, clock=lambda: now["t"])
    assert watch.due(None) and watch.due(("boot-1", 3)), "never read yet, or the emulator cannot say: read"
    watch.saw(("boot-1", 3))
    now["t"] = 4.0
    assert not watch.due(("boot-1", 3)), "nothing written since the last read"
    assert watch.due(("boot-1", 4)), "a write"
    assert watch.due(("boot-2", 3)), "the emulator restarted"
    assert watch.due(None), "the emulator cannot say"
    now["t"] = 5.0
    assert watch.due(("boot-1", 3)), "a read every 5 s whatever the counts"
    assert (watch.reads, watch.skipped) == (1, 1)
