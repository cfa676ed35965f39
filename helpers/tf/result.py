"""What a Terraform command returns: python-terraform's tuple, plus a stable summary.

The summary lists what changed in a fixed order, so a notebook's saved output
is the same on every run (nbval compares them).
"""

from __future__ import annotations

from .toolchain import PROVIDER_VERSION

ACTION_WORDS = {
    "create": ("+", "created"),
    "update": ("~", "updated"),
    "delete": ("-", "destroyed"),
    "replace": ("±", "replaced"),
    "read": ("<", "read"),
    "noop": (" ", "unchanged"),
}
PLAN_WORDS = {"create": "create", "update": "update", "delete": "destroy", "replace": "replace", "read": "read"}


class TerraformResult(tuple):
    """What a command returns: still python-terraform's ``(code, stdout, stderr)``,
    plus ``summary`` (stable text), ``changes`` (add/change/remove counts),
    ``resources`` ({address: action}) and ``outputs`` ({name: value})."""

    def __new__(cls, code, out, err, **info):
        self = super().__new__(cls, (code, out, err))
        self.command = info.get("command", "")
        self.stack = info.get("stack", "")
        self.changes = info.get("changes") or {}
        self.resources = info.get("resources") or {}
        self.outputs = info.get("outputs") or {}
        self.diagnostics = info.get("diagnostics") or []
        return self

    @property
    def code(self) -> int:
        return self[0]

    @property
    def added(self) -> int:
        return self.changes.get("add", 0)

    @property
    def changed(self) -> int:
        return self.changes.get("change", 0)

    @property
    def destroyed(self) -> int:
        return self.changes.get("remove", 0)

    @property
    def summary(self) -> str:
        lines = [f"terraform {self.command} · stack {self.stack}"]
        planning = self.command == "plan"
        for address in sorted(self.resources):
            action = self.resources[address]
            if action == "read":  # data sources are read on every run: not a change
                continue
            symbol, done = ACTION_WORDS.get(action, ("?", action))
            lines.append(f"  {symbol} {address} ({PLAN_WORDS.get(action, action) if planning else done})")
        if self.command in ("apply", "destroy"):
            if not any(a != "read" for a in self.resources.values()) and not any(self.changes.values()):
                lines.append("No changes: the infrastructure already matches the configuration.")
            if self.command == "destroy":
                lines.append(f"Destroy complete: {self.destroyed} destroyed.")
            else:
                lines.append(f"Apply complete: {self.added} added, {self.changed} changed, {self.destroyed} destroyed.")
        elif planning:
            if any(self.changes.values()):
                lines.append(f"Plan: {self.added} to add, {self.changed} to change, {self.destroyed} to destroy.")
            else:
                lines.append("No changes: the infrastructure already matches the configuration.")
        elif self.command == "init":
            lines.append(f"Initialized: hashicorp/aws {PROVIDER_VERSION} ready.")
        else:
            lines.append(f"Exit code {self.code}.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary

    def _repr_pretty_(self, p, cycle):  # IPython shows the summary, not the tuple
        p.text(self.summary)
