"""Defaults of the course stack's Terraform variables that Python code needs too (terraform/variables.tf).

A module of its own, with no import, so that the lab's processes and the audit can read them without loading
the Terraform runner (python-terraform) that the rest of this layer brings.
"""

from __future__ import annotations

# Where Docker puts a bridge-mode container's hostPort 0 on the ECS-optimized AMI: the default of
# var.host_port_range in terraform/variables.tf (tests/course/test_steps.py keeps the two equal). The one place
# in Python.
HOST_PORT_RANGE = (32768, 65535)
