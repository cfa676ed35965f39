"""How the course's pictures look: the colours, the box for plain nodes, the graph's layout.

Shared by the live pictures (live_diagram.py, audit/picture.py) and the figures in diagrams/
(diagrams/_common.py), so that every picture of the course speaks the same visual language.
"""

OK = "forestgreen"  # healthy target, allowed path as it should be
WARN = "darkgoldenrod"  # worth a look
BAD = "firebrick"  # unhealthy target, a path that must not exist
MUTED = "#7B8894"  # neither: initial, draining, not evaluated

# Graphviz attributes: left to right with curved edges; a plain rounded box for nodes without an icon.
GRAPH = {"pad": "0.3", "fontsize": "20", "splines": "spline"}
BOX = {
    "shape": "box",
    "style": "rounded",
    "fixedsize": "false",
    "labelloc": "c",
    "width": "1.6",
    "height": "0.7",
    "margin": "0.2",
}
