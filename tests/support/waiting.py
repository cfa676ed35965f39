"""The tests' one bounded wait: look again until an event has happened, or fail with what was last seen.

    rows = wait_until(lambda: lab.health(group), until=all_healthy, within=15, what="targets healthy")

``within`` is the documented timing of what is awaited (a health-check interval times its threshold, a refresh
period, a process's start) with a margin for a loaded machine; a test never asserts how fast the event came (speed
is ``make bench``'s question). A wait that ends early because the event happened costs nothing, so the margin is
generous. The loop is bounded in time and so in count (one look every ``every`` seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
FAIL = object()  # wait_until's default ``otherwise``: fail


def wait_until(
    look: Callable[[], T],
    *,
    within: float,
    what: str,
    until: Callable[[T], object] = bool,
    every: float = 0.1,
    ignoring: tuple[type[BaseException], ...] = (),
    otherwise: Any = FAIL,
) -> T:
    """``look()`` until ``until(its answer)`` is true (by default: the answer is); returns that answer.

    After ``within`` seconds, an AssertionError that names ``what`` and the last answer (or the last of the
    ``ignoring`` exceptions ``look`` raised, which count as "not yet"); or, when given, ``otherwise`` (for a
    background job that records what it saw, for its test to assert). ``look`` runs at least once, and once
    more at the deadline, so a slow ``look`` still gets its last chance.
    """
    deadline = time.monotonic() + within
    while True:
        last_look = time.monotonic() >= deadline
        try:
            seen: object = look()
            if until(seen):
                return seen
        except ignoring as exc:
            seen = exc
        if last_look:
            if otherwise is not FAIL:
                return otherwise
            raise AssertionError(f"{what}: not within {within} s; last seen: {seen!r}")
        time.sleep(max(0.0, min(every, deadline - time.monotonic())))
