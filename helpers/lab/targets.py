"""A target group's health as the lessons read it: ``Target`` and ``Targets``, from describe_target_health.

    targets = Targets.read(target_group_arn)     # sorted by instance and port
    targets.healthy, targets.unhealthy            # the targets in that state
    targets.registered                            # every target but the draining ones: the ALB may pick them
    print(targets.unhealthy[0])                   # target i-0abc… port 32768: unhealthy (Target.Timeout)

The states and reason codes are AWS's
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html); a
``draining`` target is deregistered already and gets no new request
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-register-targets.html).
"""

from __future__ import annotations

from typing import NamedTuple

from ..runtime import aws


class Target(NamedTuple):
    instance: str
    port: int
    state: str  # initial, healthy, unhealthy, unused, draining, unavailable
    reason: str = ""  # AWS's reason code, e.g. Target.Timeout ("" when healthy)

    def __str__(self) -> str:
        return f"target {self.instance} port {self.port}: {self.state}" + (f" ({self.reason})" if self.reason else "")


class Targets(list):
    """The registered targets of one target group (a list of ``Target``), with the questions the lessons ask."""

    @classmethod
    def read(cls, target_group_arn: str) -> Targets:
        found = aws.client("elbv2").describe_target_health(TargetGroupArn=target_group_arn)
        return cls.of(found["TargetHealthDescriptions"])

    @classmethod
    def of(cls, descriptions: list[dict]) -> Targets:
        """From describe_target_health's ``TargetHealthDescriptions``."""
        return cls(
            sorted(
                Target(
                    d["Target"]["Id"],
                    d["Target"]["Port"],
                    d["TargetHealth"]["State"],
                    d["TargetHealth"].get("Reason", ""),
                )
                for d in descriptions
            )
        )

    def _in(self, state: str) -> list[Target]:
        return [t for t in self if t.state == state]

    @property
    def healthy(self) -> list[Target]:
        return self._in("healthy")

    @property
    def unhealthy(self) -> list[Target]:
        return self._in("unhealthy")

    @property
    def draining(self) -> list[Target]:
        return self._in("draining")

    @property
    def registered(self) -> list[Target]:
        """Every target that is not draining: the ones the load balancer may still send a new request to."""
        return [t for t in self if t.state != "draining"]

    @property
    def ports(self) -> list[int]:
        return sorted(t.port for t in self)

    def __str__(self) -> str:
        return "\n".join(str(t) for t in self) or "no registered target"

    def summary(self) -> str:
        """One line: each target's port and state ("32768 unhealthy (Target.Timeout), 32769 initial")."""
        return ", ".join(f"{t.port} {t.state}" + (f" ({t.reason})" if t.reason else "") for t in self) or "none"
