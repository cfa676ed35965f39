"""The lab's control: up, down, status, and the supervisor that follows the emulator and runs the lab's programs.

Its modules, one line each: the layer block of helpers/README.md.
"""
