"""The traffic lab: the course's stack with real packets (issue 13).

The emulator stores the stack; the lab makes it carry traffic, on this Linux
machine's own kernel, in network namespaces the lab creates and never links to
the host's real interfaces:

- ``model``   reads the emulator's state (VPCs, subnets, network interfaces,
              security groups) into plain data: what the lab should look like;
- ``filters`` compiles each interface's security groups into nftables rules
              (stateful, drop by default, group references resolved);
- ``kernel``  creates and removes namespaces, veth pairs, bridges and routes;
- ``probe``   real TCP connections between lab hosts: reachable, refused, blocked;
- ``alb``     the load balancer's data plane (listeners, rules, TLS, health checks);
- ``agent``   a stand-in for the ECS agent: tasks as real processes.

Layer: above ``verify/`` (the audit's predictions are checked against ``probe``),
below ``exercises/`` (checks may send real requests).
"""
