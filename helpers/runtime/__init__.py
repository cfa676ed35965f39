"""Layer 1, the runtime: the machine and the AWS the course talks to (cloud, learner, emulator, boto3 clients)."""
