"""Ports: the one type for a set of port numbers.

    Ports.of([(32768, 65535)])          a set of ports, kept as merged inclusive ranges
    32768 in ports, ports | other, ports - other, ports.covers(other), str(ports)

Used by the security-group rules (rules.py: the ports a rule covers), the questions on groups
(sg_rules.py), the reachability audit and the exercise checks, so that "which ports" has one
meaning everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..tf.variables import HOST_PORT_RANGE

MAX_PORT = 65535
__all__ = [
    "ALL_PORTS",
    "HOST_PORT_RANGE",
    "MAX_PORT",
    "NO_PORTS",
    "Ports",
]


@dataclass(frozen=True)
class Ports:
    """A set of port numbers 0-65535, kept as sorted, disjoint, non-adjacent inclusive ranges."""

    ranges: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, ranges: Iterable[tuple[int, int]]) -> Ports:
        merged: list[list[int]] = []
        for low, high in sorted((max(0, a), min(MAX_PORT, b)) for a, b in ranges):
            if low > high:
                continue
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        return cls(tuple((a, b) for a, b in merged))

    def __contains__(self, port: int) -> bool:
        return any(low <= port <= high for low, high in self.ranges)

    def __or__(self, other: Ports) -> Ports:
        return Ports.of(self.ranges + other.ranges)

    def __and__(self, other: Ports) -> Ports:
        return Ports.of((max(a, c), min(b, d)) for a, b in self.ranges for c, d in other.ranges)

    def __sub__(self, other: Ports) -> Ports:
        return self & other.complement()

    def complement(self) -> Ports:
        gaps, start = [], 0
        for low, high in self.ranges:
            gaps.append((start, low - 1))
            start = high + 1
        gaps.append((start, MAX_PORT))
        return Ports.of(gaps)

    def covers(self, other: Ports) -> bool:
        return not (other - self)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __len__(self) -> int:
        return sum(high - low + 1 for low, high in self.ranges)

    def __str__(self) -> str:
        if not self.ranges:
            return "none"
        if self.ranges == ((0, MAX_PORT),):
            return "all ports"
        return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in self.ranges)


ALL_PORTS = Ports(((0, MAX_PORT),))
NO_PORTS = Ports()
