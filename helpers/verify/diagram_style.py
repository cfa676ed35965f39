"""The colours the course's live pictures share (the live architecture and the audit's matrix)."""

OK = "forestgreen"  # healthy target, allowed path as it should be
WARN = "darkgoldenrod"  # worth a look
BAD = "firebrick"  # unhealthy target, a path that must not exist
MUTED = "#7B8894"  # neither: initial, draining, not evaluated
