"""boto3 clients bound to the current target and region.

    from helpers import aws
    ec2 = aws.client("ec2")

Emulator target: dummy keys, the emulator's endpoint, and no profile from the
environment, so real credentials can never be used by accident.
AWS target: boto3's normal credential chain; ``require_credentials()``
checks it and names the account before anything is created.
``AWS_ENDPOINT_URL`` is honoured for both (boto3 reads it itself for aws; for
the emulator it replaces the workspace's emulator, e.g. an instructor's one).
"""

from __future__ import annotations

import functools
import os

from . import targets
from .errors import CourseError


def endpoint_url() -> str | None:
    """Where requests go: None means AWS's own endpoints."""
    if not targets.is_emulator():
        return None
    if os.environ.get("AWS_ENDPOINT_URL"):
        return _answering(os.environ["AWS_ENDPOINT_URL"])
    from . import recovery

    return recovery.ensure()["url"]  # started if needed; re-applies stacks if it had stopped


def _answering(url: str) -> str:
    """``url`` if something listens there; the course cannot restart an emulator it did not start."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)), timeout=3
        ):
            return url
    except (OSError, ValueError):
        raise CourseError(
            f"Nothing answers at AWS_ENDPOINT_URL={url}.",
            "AWS_ENDPOINT_URL names an emulator the course does not manage, so it cannot start or restart it; "
            "that emulator is stopped or unreachable.",
            "start that emulator again, or unset AWS_ENDPOINT_URL to use the course's own "
            "(started, and restarted, automatically).",
        ) from None


def session():
    import boto3
    import botocore.session

    region = targets.region()
    if targets.is_emulator():
        targets.warn_ignored_credentials()
        # A botocore session that ignores AWS_PROFILE: a profile named in the
        # environment must not be read (or fail to be found) for the emulator.
        core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        return boto3.Session(
            botocore_session=core,
            aws_access_key_id=targets.DUMMY_KEY,
            aws_secret_access_key=targets.DUMMY_KEY,
            region_name=region,
        )
    return boto3.Session(region_name=region)


def client(service: str):
    """A boto3 client for ``service`` on the current target."""
    if targets.is_emulator():
        targets.warn_ignored_credentials()
    else:
        require_credentials()
    return _client(service, targets.current(), targets.region(), endpoint_url())


@functools.lru_cache(maxsize=64)
def _client(service: str, target: str, region: str, endpoint: str | None):
    return session().client(service, endpoint_url=endpoint)


_confirmed: dict = {}  # (region, access key) -> caller identity, so the banner shows once


def require_credentials() -> dict:
    """For the aws target: fail clearly without credentials, else say where we are.

    Returns {"account": ..., "region": ..., "arn": ...}; the first call per
    credentials and region prints the account, region and a cost reminder.
    On the emulator it returns the emulator's fixed account, contacting nothing.
    """
    import botocore.exceptions

    if targets.is_emulator():
        return {"account": targets.EMULATOR_ACCOUNT, "region": targets.region(), "arn": "emulator"}
    sess = session()
    if sess.get_credentials() is None:
        raise CourseError(
            "No AWS credentials found for the aws target.",
            "The target is real AWS (COURSE_TARGET=aws or 'python -m helpers target aws'), "
            "but boto3 found no access keys, profile or role.",
            "run 'aws configure' (or export AWS_PROFILE=...), "
            "or go back to the free emulator: python -m helpers target emulator",
        )
    key = (sess.region_name, sess.get_credentials().access_key)
    if key in _confirmed:
        return _confirmed[key]
    try:
        who = sess.client("sts").get_caller_identity()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise CourseError(
            "AWS rejected your credentials.",
            f"sts:GetCallerIdentity failed: {exc}",
            "refresh them (aws sso login, or new keys in 'aws configure'), then re-run the cell.",
        ) from None
    info = {"account": who["Account"], "region": sess.region_name, "arn": who["Arn"]}
    print(
        f"Target: real AWS — account {info['account']}, region {info['region']} ({info['arn']}).\n"
        "  Resources you create here cost money until you run the teardown notebook."
    )
    _confirmed[key] = info
    return info


# AWS error codes a learner meets in this course: (why, fix). Used for boto3 errors in
# notebooks (errors.install_notebook_handler) and for the provider's errors (terraform.explain_failure).
GROUP_FIX = (
    'take the id from the Terraform state, e.g. course.resource("aws_security_group.alb")["id"], '
    "or in HCL refer to the group (aws_security_group.alb.id) instead of pasting an id: "
    "ids change whenever a group is re-created, and differ between the emulator and AWS."
)
KNOWN_ERRORS = {
    "InvalidGroup.NotFound": ("No security group with this id exists in this account and region.", GROUP_FIX),
    "InvalidGroupId.Malformed": ('A security group id is "sg-" followed by 8 or 17 hexadecimal digits.', GROUP_FIX),
    "InvalidPermission.Malformed": (
        "A security group rule is malformed: TCP and UDP ports go from 0 to 65535, and "
        "from_port may not be greater than to_port (the emulator checks this as AWS does).",
        "correct the rule's from_port/to_port (or its address range), then run the cell that writes it again.",
    ),
}


def explain(error) -> CourseError:
    """A boto3 ClientError as one message: what AWS refused, why, and the fix."""
    info = getattr(error, "response", {}).get("Error", {})
    code, message = info.get("Code", "Error"), (info.get("Message") or "").strip()
    operation = getattr(error, "operation_name", "the call")
    why, fix = KNOWN_ERRORS.get(
        code, ("AWS refused the request.", f"check the values this cell passes to {operation}, then run it again.")
    )
    return CourseError(f"{operation} failed: {code}: {message}", why, fix)
