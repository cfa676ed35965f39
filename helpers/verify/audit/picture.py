"""The reachability audit as a picture: internet → ALB → instances, and the path that must not exist.

Labels come from the report's matrix (no AWS ids beyond what the report
prints), so the picture is the same for the same report.
"""

from __future__ import annotations

from pathlib import Path

from .. import diagram_style

FILE_STEM = "reachability"
COLOUR = {"ok": diagram_style.OK, "warn": diagram_style.WARN, "bad": diagram_style.BAD}


def _row(report, source: str, destination: str):
    return next((r for r in report.rows if r.source.startswith(source) and r.destination.startswith(destination)), None)


def _edge(row, fallback: str):
    from diagrams import Edge  # diagrams and Graphviz: only when a picture is drawn

    if row is None:
        return Edge(label=fallback, color="grey", style="dotted")
    colour = COLOUR[row.verdict]
    label = row.allowed if len(row.allowed) <= 60 else row.allowed[:57] + "..."
    return Edge(label=label, color=colour, fontcolor=colour, style="bold" if row.verdict != "ok" else "solid")


def draw_report(report, folder) -> Path:
    """Draw ``report`` into ``folder/reachability.png`` (and .svg); return the PNG path."""
    from diagrams.aws.compute import EC2Instance  # diagrams and Graphviz: only when a picture is drawn
    from diagrams.aws.general import Users  # diagrams: only when a picture is drawn
    from diagrams.aws.network import ALB  # diagrams: only when a picture is drawn

    from diagrams import Cluster, Diagram, Edge  # diagrams and Graphviz: only when a picture is drawn

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / FILE_STEM
    with Diagram(
        f"{report.title}: {report.verdict()}",
        filename=str(out),
        outformat=["png", "svg"],
        show=False,
        direction="LR",
        graph_attr={**diagram_style.GRAPH, "fontsize": "18"},
    ):
        internet = Users("internet")
        alb = ALB("load balancer")
        with Cluster("instances' security group", graph_attr={"style": "dashed"}):
            instances = EC2Instance("instances\n(registered targets)")
        internet >> _edge(_row(report, "internet", "ALB"), "no load balancer") >> alb
        alb >> _edge(_row(report, "ALB", "instances"), "not evaluated") >> instances
        exposed = _row(report, "internet", "instances")
        if exposed is not None and exposed.verdict == "bad":
            internet >> _edge(exposed, "") >> instances
        else:
            (
                internet
                >> Edge(
                    label="no path (no rule matches the internet)",
                    color="grey",
                    fontcolor="grey",
                    style="dashed",
                    arrowhead="tee",
                )
                >> instances
            )
        targets = _row(report, "ALB", "registered targets")
        if targets is not None:
            alb >> _edge(targets, "") >> instances
    return out.with_suffix(".png")
