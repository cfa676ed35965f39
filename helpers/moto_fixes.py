"""Where moto answers differently from AWS in a way the course trips over.

Each fix patches moto in-process (inside the emulator server, before it
serves), is explained here, and has a regression test in
tests/test_moto_fixes.py. ``apply()`` returns the names of the fixes it
applied; the emulator's health answer lists them.
"""
from __future__ import annotations

FIXES: list = []


def fix(func):
    FIXES.append(func)
    return func


@fix
def ecs_bridge_service_network_configuration() -> None:
    """Omit ``networkConfiguration`` from ECS services that have none.

    AWS returns ``networkConfiguration`` only for services in ``awsvpc``
    network mode. moto 5.2 returns an empty object for every other service
    (our bridge-mode service included), and the bundled AWS provider 3.39
    then crashes with a nil-pointer dereference in
    ``flattenEcsNetworkConfiguration`` while reading the service.
    """
    from moto.ecs.models import Service

    original = Service.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if not self.network_configuration:
            # The serializer skips None; {} is what crashed the provider.
            self.network_configuration = None
        for deployment in self.deployments:
            if not deployment.get("networkConfiguration"):
                deployment.pop("networkConfiguration", None)

    Service.__init__ = __init__


def apply() -> list[str]:
    return [f.__name__ for f in FIXES if f() is None]
