"""The audit's report: the reachability matrix and findings, as text, HTML (notebooks) and JSON."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

SEVERITIES = ("high", "medium", "low", "info")


@dataclass(frozen=True)
class Finding:
    severity: str
    what: str
    fix: str

    def sort_key(self):
        return SEVERITIES.index(self.severity), self.what


@dataclass
class Row:
    source: str
    destination: str
    allowed: str
    verdict: str  # "ok", "warn", "bad"


MARK = {"ok": "✓", "warn": "!", "bad": "✗"}


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    title: str = "Reachability audit"

    @property
    def ok(self) -> bool:
        return not any(f.severity == "high" for f in self.findings)

    def count(self, severity: str) -> int:
        return sum(f.severity == severity for f in self.findings)

    def sorted_findings(self) -> list[Finding]:
        return sorted(set(self.findings), key=Finding.sort_key)

    def verdict(self) -> str:
        if not self.findings:
            return "clean: no findings"
        counts = ", ".join(f"{self.count(s)} {s}" for s in SEVERITIES if self.count(s))
        return f"{'FAILED' if not self.ok else 'passed'}: {counts}"

    def text(self) -> str:
        lines = [f"{self.title}: {self.verdict()}", ""]
        width = max((len(f"{r.source} → {r.destination}") for r in self.rows), default=0)
        for r in self.rows:
            lines.append(f"  {MARK[r.verdict]} {f'{r.source} → {r.destination}':<{width}}  {r.allowed}")
        for f in self.sorted_findings():
            lines += ["", f"  [{f.severity}] {f.what}", f"      fix: {f.fix}"]
        return "\n".join(lines)

    __str__ = text

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        e = html.escape
        colour = {
            "ok": "#1a7f37",
            "warn": "#9a6700",
            "bad": "#cf222e",
            "high": "#cf222e",
            "medium": "#9a6700",
            "low": "#57606a",
            "info": "#57606a",
        }
        rows = "".join(
            f"<tr><td style='color:{colour[r.verdict]}'>{MARK[r.verdict]}</td><td>{e(r.source)}</td>"
            f"<td>{e(r.destination)}</td><td style='text-align:left'>{e(r.allowed)}</td></tr>"
            for r in self.rows
        )
        out = [
            f"<p><b>{e(self.title)}</b>: {e(self.verdict())}</p>",
            "<table><thead><tr><th></th><th>from</th><th>to</th><th style='text-align:left'>allowed</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>",
        ]
        if self.findings:
            found = "".join(
                f"<tr><td style='color:{colour[f.severity]}'><b>{e(f.severity)}</b></td>"
                f"<td style='text-align:left'>{e(f.what)}</td><td style='text-align:left'>{e(f.fix)}</td></tr>"
                for f in self.sorted_findings()
            )
            out.append(
                "<table><thead><tr><th>severity</th><th style='text-align:left'>finding</th>"
                f"<th style='text-align:left'>fix</th></tr></thead><tbody>{found}</tbody></table>"
            )
        return "\n".join(out)

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "ok": self.ok,
            "verdict": self.verdict(),
            "rows": [r.__dict__ for r in self.rows],
            "findings": [f.__dict__ for f in self.sorted_findings()],
        }
