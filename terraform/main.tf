locals {
  # One prefix for every name: ALB and target group names are limited to 32 characters.
  name = "ecs-alb-${var.learner}"

  tags = {
    course  = "ecs-alb"
    learner = var.learner
  }
}

data "aws_availability_zones" "available" {
  # a fixed list of zone names would break regions without an "a" or "b" zone
  #checkov:skip=CKV_AWS_394:only the first two zones are used, whatever their names
  state = "available"
}
