"""The lab's Application Load Balancer: its configuration read from the emulator, TLS, health checks, the data plane.

Its modules, one line each: the layer block of helpers/README.md.
"""
