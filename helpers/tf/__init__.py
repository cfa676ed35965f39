"""Layer 2, Terraform offline: the toolchain, the override, the runner, states and backups, %%hcl writing."""
