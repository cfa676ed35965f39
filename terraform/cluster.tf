# The ECS cluster: notebook 06 adds the instances that join it and the service that runs in it.
resource "aws_ecs_cluster" "main" {
  #checkov:skip=CKV_AWS_65:Container Insights bills metrics and logs; the course reads none
  name = local.name

  tags = { Name = local.name }
}
