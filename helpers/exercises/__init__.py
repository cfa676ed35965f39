"""The exercise notebooks' cells: ``tf = exercise.start("03-alb-security-group")`` and the check cells.

    from helpers import exercise
    tf = exercise.start("02-network")   # helpers/exercises/guard.py
    exercise.network()                  # the check: "✓ done" or what is still wrong (lessons/network.py)
    exercise.needs_the_stack()          # a cell reading the stack stops with one line until 02.. are applied

The exercise notebooks themselves are generated from the solutions (generator.py, spec.py).
"""

from .feedback import Feedback
from .guard import ExerciseTerraform, missing_before, needs_the_stack, start
from .lessons.alb_security_group import alb_security_group, diagnose_alb_security_group
from .lessons.dns import diagnose_dns, dns
from .lessons.ecs import diagnose_ecs, ecs, register_targets
from .lessons.listeners import diagnose_listeners, listeners
from .lessons.lockdown import diagnose_lockdown, lockdown, option_1_exposure
from .lessons.network import diagnose_network, network
from .lessons.target_group import diagnose_target_group, target_group

__all__ = [
    "ExerciseTerraform",
    "Feedback",
    "alb_security_group",
    "diagnose_alb_security_group",
    "diagnose_dns",
    "diagnose_ecs",
    "diagnose_listeners",
    "diagnose_lockdown",
    "diagnose_network",
    "diagnose_target_group",
    "dns",
    "ecs",
    "listeners",
    "lockdown",
    "missing_before",
    "needs_the_stack",
    "network",
    "option_1_exposure",
    "register_targets",
    "start",
    "target_group",
]
