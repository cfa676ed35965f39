"""Whether the emulator may hold something new for one of the lab's readers, asked cheaply.

The lab follows the emulator by reading it (the network model several times a second, each load balancer's
configuration every second). Most of those reads find nothing new, and each costs the emulator a few
``Describe…`` calls. The emulator counts the writes it serves, per AWS service
(``GET /_course/changes``, helpers/runtime/moto_changes.py); a reader looks at those counts first and reads
only when one of its services was written to::

    watch = changes.Watch(endpoint, ("ec2", "elasticloadbalancing", "autoscaling"))
    seen = watch.look()
    if watch.due(seen):
        state = read()  # may raise: then nothing is marked read, and the next look reads again
        watch.saw(seen)

The look is signed like every request (helpers/runtime/emulator_api.py), so a workshop room's emulator answers
it too. A read is also due when the emulator cannot say (it is restarting), when it restarted (a new boot id), and every ``every`` seconds whatever the counts say: moto
changes a few things on reads alone.
"""

from __future__ import annotations

import json
import time

from ..errors import CourseError
from ..runtime import emulator_api
from ..runtime.emulator_routes import CHANGES
from ..runtime.moto_changes import LAB_TARGET_HEALTH, UNSIGNED  # the emulator's side (stdlib only)

ALWAYS = (UNSIGNED,)  # a write to moto's own API (its reset) concerns every reader
TARGET_HEALTH = LAB_TARGET_HEALTH  # the lab's health checks changed a target's state
EVERY = 5.0  # seconds: a read at least this often
TIMEOUT = 0.5  # seconds for the emulator to answer the look


class Watch:
    def __init__(self, endpoint: str, services: tuple[str, ...], *, every: float | None = None, clock=time.monotonic):
        self.endpoint, self.services, self.clock = endpoint, (*services, *ALWAYS), clock
        self.every = EVERY if every is None else every
        self.last: tuple | None = None
        self.read_at: float | None = None
        self.reads = self.skipped = 0

    def look(self) -> tuple | None:
        """The boot id and this reader's counts now, or None when the emulator cannot say."""
        try:
            found = json.loads(emulator_api.call(self.endpoint, CHANGES, timeout=TIMEOUT))
            return (found["boot"], *(int(found["changes"].get(s, 0)) for s in self.services))
        except (OSError, ValueError, KeyError, TypeError, CourseError):  # CourseError: no room credential yet
            return None

    def due(self, seen: tuple | None) -> bool:
        fresh = (
            seen is not None
            and seen == self.last
            and self.read_at is not None
            and self.clock() - self.read_at < self.every
        )
        if fresh:
            self.skipped += 1
        return not fresh

    def saw(self, seen: tuple | None) -> None:
        """The read that ``due(seen)`` asked for succeeded."""
        self.last, self.read_at = seen, self.clock()
        self.reads += 1
