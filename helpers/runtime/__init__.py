"""The runtime layer: the machine and the AWS the course talks to (cloud, learner, emulator, boto3 clients)."""
