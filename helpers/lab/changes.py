"""What the emulator wrote, heard from the emulator itself: a long-poll for the supervisor, cheap looks for the rest.

The emulator numbers the writes it serves and remembers their kind, the AWS service written to
(``GET /_course/changes``, helpers/runtime/moto_changes.py). The lab's supervisor waits there (``Feed``): the
emulator answers as soon as a write is done, with the kinds written since the last answer, so the lab follows a
change at once instead of polling::

    feed = changes.Feed(endpoint)
    news = feed.next(wait=1.0)  # returns on a write, or after 1 s with nothing; None: the emulator cannot say
    if news and news.touches(("ec2", "elasticloadbalancing")): ...

Readers that look once a second before they read (the ALB nodes' configuration, the ECS agents) keep a
``Watch`` on the counts of the services they act on, and read only when one moved::

    watch = changes.Watch(endpoint, ("ec2", "elasticloadbalancing", "autoscaling"))
    seen = watch.look()
    if watch.due(seen):
        state = read()  # may raise: then nothing is marked read, and the next look reads again
        watch.saw(seen)

Both are signed like every request (helpers/runtime/emulator_api.py), so a workshop room's emulator answers them
too, with the signer's own account's writes only. A read is also due when the emulator cannot say (it is
restarting), when it restarted (a new boot id), and every ``every`` seconds whatever the counts say: moto
changes a few things on reads alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from ..errors import CourseError
from ..runtime import emulator_api
from ..runtime.emulator_routes import CHANGES
from ..runtime.moto_changes import LAB_TARGET_HEALTH, UNSIGNED  # the emulator's side (stdlib only)

ALWAYS = (UNSIGNED,)  # a write to moto's own API (its reset) concerns every reader
TARGET_HEALTH = LAB_TARGET_HEALTH  # what describe_target_health returns changed (the lab's health checks)
EVERY = 5.0  # seconds: a read at least this often
TIMEOUT = 0.5  # seconds for the emulator to answer a look
MARGIN = 2.0  # seconds a long-poll's answer may take beyond its wait (a busy emulator)
_FAILED = (OSError, ValueError, KeyError, TypeError, CourseError)  # CourseError: no room credential yet


def fetch(endpoint: str, *, after: int | None = None, wait: float = 0.0) -> dict | None:
    """The emulator's answer (boot, seq, changes, kinds, complete), or None when it cannot say."""
    path = CHANGES if after is None else f"{CHANGES}?after={after}&wait={wait:g}"
    try:
        found = json.loads(emulator_api.call(endpoint, path, timeout=(TIMEOUT if after is None else wait + MARGIN)))
        return found if isinstance(found.get("changes"), dict) and "boot" in found else None
    except _FAILED:
        return None


@dataclass(frozen=True)
class News:
    """One answer of the long-poll: the emulator's boot and write number, and what was written since the last."""

    boot: str
    seq: int
    kinds: frozenset[str]
    complete: bool  # False: the kinds are not all known (the emulator restarted, or too much was written)
    operations: frozenset[str] = frozenset()  # "ec2:AuthorizeSecurityGroupIngress", ...

    def touches(self, services: tuple[str, ...]) -> bool:
        """Whether a reader of these services must read again."""
        return not self.complete or bool(self.kinds & {*services, *ALWAYS})

    def only(self, services: tuple[str, ...], operations: frozenset[str]) -> bool:
        """Whether every write to these services (or to the emulator itself) was one of ``operations``: then a
        reader may read again only what those change."""
        watched = {*services, *ALWAYS}
        done = {op for op in self.operations if op.split(":", 1)[0] in watched}
        return self.complete and not (self.kinds & set(ALWAYS)) and bool(done) and done <= operations


class Feed:
    """The emulator's writes as they happen, for one follower (the lab's supervisor)."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.boot: str | None = None
        self.seq: int | None = None

    def next(self, wait: float) -> News | None:
        """Wait (at most ``wait`` s) for the writes after the last answer; None when the emulator cannot say.
        The first answer, and the first after a restart, are incomplete: read everything."""
        found = fetch(self.endpoint, after=self.seq if self.seq is not None else 0, wait=wait)
        if found is None:
            self.boot = self.seq = None
            return None
        known = found["boot"] == self.boot and self.seq is not None
        news = News(
            found["boot"],
            int(found["seq"]),
            frozenset(found.get("kinds") or ()),
            known and found["complete"],
            frozenset(found.get("operations") or ()),
        )
        self.boot, self.seq = news.boot, news.seq
        return news


class Watch:
    def __init__(self, endpoint: str, services: tuple[str, ...], *, every: float | None = None, clock=time.monotonic):
        self.endpoint, self.services, self.clock = endpoint, (*services, *ALWAYS), clock
        self.every = EVERY if every is None else every
        self.last: tuple | None = None
        self.read_at: float | None = None
        self.reads = self.skipped = 0

    def look(self) -> tuple | None:
        """The boot id and this reader's counts now, or None when the emulator cannot say."""
        return self.project(fetch(self.endpoint))

    def project(self, found: dict | None) -> tuple | None:
        """The boot id and this reader's counts in one answer of ``fetch`` (several watches share one look)."""
        try:
            return None if found is None else (found["boot"], *(int(found["changes"].get(s, 0)) for s in self.services))
        except (KeyError, TypeError, ValueError):
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
