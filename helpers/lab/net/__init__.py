"""The lab's network: namespaces (one ``Netns`` object each), their wiring, security groups in nftables, DNS, probes.

Its modules, one line each: the layer block of helpers/README.md.
"""
