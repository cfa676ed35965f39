"""The lab's ECS: the agent and scheduler stand-in, containers as processes, the course's images.

Its modules, one line each: the layer block of helpers/README.md.
"""
