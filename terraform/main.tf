locals {
  # One prefix for every name: ALB and target group names are limited to 32 characters.
  name = "ecs-alb-${var.learner}"

  tags = {
    course  = "ecs-alb"
    learner = var.learner
  }
}

data "aws_availability_zones" "available" {
  state = "available"
}
