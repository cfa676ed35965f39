"""The verify layer, questions about what is deployed: ports, security-group rules, the live diagram, the audit."""
