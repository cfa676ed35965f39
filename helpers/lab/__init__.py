"""The traffic lab: the course's stack with real packets (issue 13).

The emulator stores the stack; the lab makes it carry traffic, on this Linux
machine's own kernel, in network namespaces the lab creates and never links to
the host's real interfaces: it reads the emulator's state into plain data,
compiles each interface's security groups into nftables rules, wires namespaces
(one ``Netns`` object each), bridges and routes, and runs the load balancer's
data plane, the DNS and the ECS agent's tasks as real programs. Its modules,
one line each: the layer block of helpers/README.md.

Layer: above ``verify/`` (the audit's predictions are checked against ``probe``),
below ``exercises/`` (checks may send real requests).

For the notebooks (``from helpers import lab``) this package is the facade of ``lesson``: ``lab.up()``,
``lab.curl(url)``, ``lab.connect(...)``, ``lab.wait_for_health(...)`` and the rest of ``lesson.__all__``, loaded
on first use so that the lab's own small programs (the client) do not pay for it.
"""

from __future__ import annotations

import importlib
import importlib.util


def __getattr__(name: str):
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:
        # One of the lab's own modules, asked for by `from . import name` while it is not imported yet: the
        # import system imports it next. Loading lesson here would import the whole lab first (a cycle).
        raise AttributeError(f"module {__name__!r} has no attribute {name!r} (yet)")
    lesson = importlib.import_module(f"{__name__}.lesson")
    if name in lesson.__all__:
        return getattr(lesson, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:  # tab completion in a notebook lists what the lessons use
    return sorted(importlib.import_module(f"{__name__}.lesson").__all__)
