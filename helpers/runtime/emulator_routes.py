"""The emulator's own routes beside AWS's API: one place for each path, imported by the server and its clients.

The server side: helpers/runtime/emulator_server.py and the moto_* modules it mounts. The clients: the launcher
(runtime/emulator.py), the room (workshop/room.py) and the traffic lab (lab/). Stdlib only: the lab's small
programs import it without loading moto.
"""

from __future__ import annotations

HEALTH = "/_course/health"  # GET: is this the course's emulator, which boot, which fixes (any program may hold a port)
CHANGES = "/_course/changes"  # GET: writes served per AWS service (moto_changes.py)
ROOM_WHOAMI = "/_course/room/whoami"  # a signed GET to a room's emulator: whose credential is this? (room_gate.py)
LAB_TARGET_HEALTH = "/_course/lab/target-health"  # POST: the lab ALB's health-check results (moto_lab_health.py)
LAB_SERVICE_EVENT = "/_course/lab/service-event"  # POST: the lab ECS agent's events and counts (moto_lab_ecs.py)
