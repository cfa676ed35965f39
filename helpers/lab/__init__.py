"""The traffic lab: the course's stack with real packets (issue 13).

The emulator stores the stack; the lab makes it carry traffic, on this Linux
machine's own kernel, in network namespaces the lab creates and never links to
the host's real interfaces:

- ``model``   reads the emulator's state (VPCs, subnets, network interfaces,
              security groups) into plain data: what the lab should look like;
- ``filters`` compiles each interface's security groups into nftables rules
              (stateful, drop by default, group references resolved);
- ``kernel``  creates and removes namespaces, veth pairs, bridges and routes;
- ``probe``   real TCP connections between lab hosts: reachable, refused, blocked;
- ``alb``     the load balancer's data plane (listeners, rules, TLS, health checks);
- ``agent``   a stand-in for the ECS agent: tasks as real processes.

Layer: above ``verify/`` (the audit's predictions are checked against ``probe``),
below ``exercises/`` (checks may send real requests).

For the notebooks (``from helpers import lab``) this package is the facade of ``lesson``: ``lab.needed(...)``,
``lab.up()``, ``lab.curl(url)``, ``lab.connect(...)``, ``lab.wait_until_healthy(...)`` and the rest of
``lesson.__all__``, loaded on first use so that the lab's own small programs (the client) do not pay for it.
"""

from __future__ import annotations

import importlib


def __getattr__(name: str):
    lesson = importlib.import_module(f"{__name__}.lesson")
    if name in lesson.__all__:
        return getattr(lesson, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:  # tab completion in a notebook lists what the lessons use
    return sorted(importlib.import_module(f"{__name__}.lesson").__all__)
