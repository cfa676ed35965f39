"""The emulator counts the writes it serves, per AWS service, and the lab reads its state again only after one
(helpers/runtime/moto_changes.py, helpers/lab/changes.py). Against the session's real emulator, with boto3."""

from __future__ import annotations

import io
import json
import uuid

import pytest

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
    assert moto_changes.written(reset)[0] == moto_changes.UNSIGNED == changes.ALWAYS[0]
    signed_reset = dict(
        reset, HTTP_AUTHORIZATION="AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/moto/aws4_request"
    )
    assert moto_changes.written(signed_reset)[0] == moto_changes.UNSIGNED, "a room's reset is signed, for 'moto'"
    body = b"Action=DescribeSecurityGroups&Version=2016-11-15"
    signed_read = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ec2/aws4_request, Signature=0",
    }
    assert moto_changes.written(signed_read) is None
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


# ---------------------------------------------------------------- the long-poll (pushed, not polled)


def test_the_long_poll_returns_on_a_write_with_its_kind(emulator_url):
    """GET /_course/changes?after=N&wait=S answers once a write above N is done, naming the service written to."""
    import threading

    before = changes.fetch(emulator_url)
    answers: list = []
    waiting = threading.Thread(
        target=lambda: answers.append(changes.fetch(emulator_url, after=before["seq"], wait=moto_changes.MAX_WAIT))
    )
    waiting.start()
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.79.0.0/16")["Vpc"]["VpcId"]
    try:
        waiting.join(moto_changes.MAX_WAIT + changes.MARGIN)  # the bound; it answers as soon as the write is done
        (answer,) = answers
        assert answer["seq"] > before["seq"] and "ec2" in answer["kinds"] and answer["complete"]
        assert "ec2:CreateVpc" in answer["operations"], "and which operation: a reader may read only what it changes"
        assert answer["boot"] == before["boot"]
    finally:
        ec2.delete_vpc(VpcId=vpc)


def test_the_long_poll_answers_at_its_bound_when_nothing_is_written():
    """In-process (no other writer): nothing above N, so the answer comes after ``wait`` with no kinds."""
    after = moto_changes.seq()
    assert moto_changes.wait(after, 0.05) == (after, [], True)
    assert moto_changes.wait(after + 5, 30.0)[1:] == ([], True), "an N from an earlier boot: answered at once"


def test_in_a_room_an_account_hears_only_of_its_own_writes_and_a_reset():
    """The room's door names the signer's account (x-moto-account-id); a write belongs to it. In-process."""
    start = moto_changes.seq()
    moto_changes.bump("ec2", "111111111111")
    assert moto_changes.wait(start, 0.05, "222222222222")[1] == [], "another account's write"
    assert moto_changes.since(start, "111111111111") == (["ec2"], True)
    moto_changes.bump(moto_changes.UNSIGNED, None)  # a reset: everyone's
    assert moto_changes.wait(start, 0.05, "222222222222")[1] == [moto_changes.UNSIGNED]
    assert moto_changes.since(start) == (["ec2", moto_changes.UNSIGNED], True), "one account: every write"


@pytest.mark.parametrize(
    "query",
    ["after=-1", "after=x", "after=1.5", "after=1&wait=31", "after=1&wait=-1", "after=1&wait=nan", "after=1&wait=s"],
)
def test_a_bad_after_or_wait_is_a_400_that_says_what_is_expected(emulator_url, query):
    import urllib.error

    from helpers.runtime import emulator_api
    from helpers.runtime.emulator_routes import CHANGES

    with pytest.raises(urllib.error.HTTPError) as refused:
        emulator_api.call(emulator_url, f"{CHANGES}?{query}", timeout=5)
    assert refused.value.code == 400
    said = json.loads(refused.value.read())["error"]
    assert query.split("&")[-1] in said and "expected" in said


def test_a_feed_reads_everything_first_then_hears_each_write(emulator_url):
    """changes.Feed: the first answer is incomplete (read everything); the next names the kinds written."""
    feed = changes.Feed(emulator_url)
    first = feed.next(wait=0.0)
    assert first is not None and not first.complete and first.touches(("ec2",))
    ecs = aws.client("ecs")
    name = f"feed-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=name)
    try:
        news = feed.next(wait=moto_changes.MAX_WAIT)
        assert news.complete and "ecs" in news.kinds and news.seq > first.seq
        assert news.touches(("ecs",)) and (news.kinds != {"ecs"} or not news.touches(("ec2",)))
    finally:
        ecs.delete_cluster(cluster=name)


def test_after_rule_changes_alone_a_reader_may_read_only_the_groups():
    """News.only: every write to the watched services was one of the given operations (the supervisor then
    describes the security groups alone, helpers/lab/control/supervisor.py's RULE_OPERATIONS)."""
    rules = frozenset({"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"})
    watched = ("ec2", "elasticloadbalancing")

    def news(*operations, complete=True):
        kinds = frozenset(op.split(":")[0] for op in operations)
        return changes.News("boot", 9, kinds, complete, frozenset(operations))

    assert news("ec2:AuthorizeSecurityGroupIngress", "ecs:UpdateService").only(watched, rules), "ecs: not watched"
    assert not news("ec2:AuthorizeSecurityGroupIngress", "ec2:RunInstances").only(watched, rules)
    assert not news("ec2:AuthorizeSecurityGroupIngress", complete=False).only(watched, rules), "not all known"
    assert not news("ec2:AuthorizeSecurityGroupIngress", "emulator:POST").only(watched, rules), "a reset"
    assert not news("ecs:UpdateService").only(watched, rules), "nothing watched was written"
