"""Can this machine run the traffic lab (helpers/lab/)? Machine facts only, no lab import.

The lab builds network namespaces, veth pairs, bridges and nftables tables in the kernel: it
needs Linux, root (CAP_NET_ADMIN, CAP_SYS_ADMIN for ``ip netns``) or, for an ordinary user, user
namespaces (it is root in one of its own: helpers/lab/net/sandbox.py), ``ip`` (iproute2) and ``nft``
(nftables). Shared by ``lab status`` and ``doctor`` (course/, which must not import lab/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from .. import workspace
from . import processes

NFT_INSTALL = "apt-get install nftables"
IP_INSTALL = "apt-get install iproute2"
UTIL_INSTALL = "apt-get install util-linux"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    detail: str  # what was found
    fix: str = ""  # what to do when not ok


def user_namespaces() -> bool:
    """True when an ordinary user may create a user + network namespace here (unshare -Urn)."""
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "-Urn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def check() -> Verdict:
    """Whether the lab can run on this machine, and the fix when it cannot."""
    if not sys.platform.startswith("linux"):
        return Verdict(
            False,
            f"the traffic lab needs Linux (network namespaces and nftables); this is {sys.platform}",
            "the course runs without the lab; to use it, run the course in a Linux VM or container "
            "(e.g. docker run --privileged …) as root",
        )
    if os.geteuid() != 0 and not user_namespaces():
        return Verdict(
            False,
            "the traffic lab needs root here, or user namespaces for an ordinary user, and they are disabled "
            "(unshare -Urn fails)",
            "run the course as root (a container or VM), e.g. sudo make lab; or allow unprivileged user "
            "namespaces (sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces)",
        )
    for program, line in (("nsenter", UTIL_INSTALL), ("unshare", UTIL_INSTALL)) if os.geteuid() else ():
        if not shutil.which(program):
            return Verdict(False, f"'{program}' is missing: the lab without root needs it", line)
    for program, line in (("ip", IP_INSTALL), ("nft", NFT_INSTALL)):
        if not shutil.which(program):
            return Verdict(False, f"'{program}' is missing: the lab needs it", line)
    if os.geteuid():
        return Verdict(
            True, "Linux as an ordinary user with ip and nft: the lab can run here, in a user namespace of its own"
        )
    return Verdict(True, "Linux as root with ip and nft: the lab can run here")


LAB_DIR = "lab"  # <workspace>/lab/: the lab's state, logs and sandbox
# in LAB_DIR: the running supervisor's record (helpers/lab/control/supervisor.py writes it)
SUPERVISOR_FILE = "supervisor.json"


def supervisor() -> dict:
    """The lab supervisor's record for this workspace (its pid, emulator endpoint, VPCs, start time) while its
    process runs; {} when none runs."""
    try:
        record = json.loads(workspace.path(LAB_DIR, SUPERVISOR_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) and processes.alive(record.get("pid")) else {}


def supervised() -> bool:
    """Does a lab supervisor run for this workspace?

    For the layers below lab/: where it runs, the lab's ECS stand-in registers the real tasks' targets.
    """
    return bool(supervisor())
