"""Which cloud the course talks to: the local emulator (default) or real AWS (the "target").

Real AWS is explicit opt-in only: ``COURSE_TARGET=aws`` in the environment,
or ``python -m helpers target aws`` (saved in the workspace). Anything else
means the emulator, and then no request leaves this machine: every client
and the Terraform provider are pointed at the emulator with dummy keys, and
any real credentials in the environment are ignored (and we say so).
"""

from __future__ import annotations

import os

from .. import workspace
from ..errors import CourseError

TARGETS = ("emulator", "aws")
EMULATOR_REGION = "us-east-1"
EMULATOR_ACCOUNT = "123456789012"  # moto's fixed account id
DUMMY_KEY = "testing"  # the emulator accepts any key; this one is obviously fake

# Environment variables through which real credentials reach boto3 and the
# Terraform provider. Under the emulator target they are removed from the
# Terraform process and never used by helpers.runtime.aws.
CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def current() -> str:
    """The active target: COURSE_TARGET, else the saved choice, else emulator."""
    value = os.environ.get("COURSE_TARGET") or workspace.read_json("config.json").get("target") or "emulator"
    return _checked(
        value, "unset COURSE_TARGET (the emulator is the default), or set COURSE_TARGET=aws to deploy to real AWS."
    )


def _checked(name: str, fix: str) -> str:
    name = name.strip().lower()
    if name not in TARGETS:
        raise CourseError(f"Unknown course target {name!r}.", f"The target must be one of {', '.join(TARGETS)}.", fix)
    return name


def use(name: str) -> str:
    """Save the target for this workspace (``python -m helpers target NAME``)."""
    name = _checked(name, "python -m helpers target emulator   (or: python -m helpers target aws)")
    config = workspace.read_json("config.json")
    config["target"] = name
    workspace.write_json("config.json", config)
    return name


def is_emulator() -> bool:
    return current() == "emulator"


def region() -> str:
    if is_emulator():
        return os.environ.get("COURSE_REGION", EMULATOR_REGION)
    value = os.environ.get("COURSE_REGION") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not value:
        import boto3  # heavy: loaded when the first client is made

        value = boto3.Session().region_name
    if not value:
        raise CourseError(
            "No AWS region is set for the aws target.",
            "Real AWS resources are created in one region, and none was configured.",
            "export AWS_REGION=eu-west-1   (or any region you want to use)",
        )
    return value


def credentials_in_environment() -> list[str]:
    """Names of the credential variables that are set (values are never shown)."""
    return [name for name in CREDENTIAL_VARIABLES if os.environ.get(name)]


def ignored_credentials_note() -> str | None:
    """What to tell the learner when real AWS credentials are set but the emulator is used (None: nothing).

    Printed once per session by the course session's hooks (helpers/course/session.py).
    """
    names = credentials_in_environment()
    if not names or not is_emulator():
        return None
    return (
        f"Note: real AWS credentials are set in your environment ({', '.join(names)}).\n"
        "  The target is the emulator, so they are ignored and nothing is sent to AWS.\n"
        "  To deploy to real AWS instead: python -m helpers target aws"
    )
