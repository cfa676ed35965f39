"""The lab's ECS: one scheduler per cluster (ECS's control plane), one agent per instance (the ECS agent),
handing tasks to each other through ECS's own task states; containers as processes; the course's images.

Its modules, one line each: the layer block of helpers/README.md.
"""
