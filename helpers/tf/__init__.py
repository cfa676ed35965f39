"""The Terraform layer, offline: the toolchain, the override, the runner, states and backups, %%hcl writing."""
