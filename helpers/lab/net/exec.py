"""``python -m helpers lab exec [--from internet|HOST] -- COMMAND...``: any program inside the lab.

    exec.main(["curl", "-sk", "https://app.ecs-alb.example/"])            from the lab's internet
    exec.main(["ss", "-tln"], source="i-0abc…")                           on an instance

A real client's way in, as mininet's ``h1 curl h2`` runs a program on a host of its network: COMMAND runs
in the namespace of the lab's internet (the learner's client, ``model.CLIENT_ADDRESS``; the default) or of
a lab host, named as ``lab probe`` and ``lab curl`` name them (an instance id, an ALB node: ``lab status``
lists them). It is this machine's own program (curl, openssl, dig, ab …) with this machine's files; only
its network is the lab's. Standard input, output and error are the caller's; the exit status is the
program's.

DNS: in the internet namespace the lab's DNS server answers (helpers/lab/net/dns.py writes the namespace's
``resolv.conf``, which ``ip netns exec`` puts over /etc/resolv.conf), so the course's domain resolves to
the load balancer's nodes as it does for a learner's browser. A lab host has no resolver: on AWS an
instance asks the VPC's Route 53 Resolver, which the lab does not build; use addresses there.
"""

from __future__ import annotations

import shutil

from ...errors import CourseError
from ..control import commands as control

EXAMPLE = "python -m helpers lab exec -- curl -sk https://app.ecs-alb.example/"


def main(argv: list[str], source: str = "internet") -> int:
    """Run ``argv`` in ``source``'s namespace and wait for it; its exit status (130 after Ctrl-C)."""
    if not argv:
        raise CourseError(
            "lab exec needs a command to run.",
            "It runs one program of this machine inside a lab namespace, with the lab's DNS.",
            f"{EXAMPLE}   (--from i-… runs it on an instance)",
        )
    if not shutil.which(argv[0]):
        raise CourseError(
            f"lab exec cannot run {argv[0]!r}: no such program on this machine.",
            "lab exec runs a program of this machine (found on PATH) inside a lab namespace.",
            "check its name, or install it: apt-get install curl openssl bind9-dnsutils apache2-utils",
        )
    net = control.place(source, "exec")
    try:
        return net.exec(list(argv)).returncode
    except KeyboardInterrupt:
        return 130
