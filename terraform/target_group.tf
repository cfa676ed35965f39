resource "aws_lb_target_group" "web" {
  # ALB-to-instance traffic stays in the VPC, and only the ALB may send it
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; HTTP to the targets stays in the VPC
  name        = "${local.name}-web"
  target_type = "instance"
  protocol    = "HTTP"
  # Only a default: ECS registers each task with its own dynamic host port.
  port   = 80
  vpc_id = aws_vpc.main.id

  deregistration_delay = 30

  health_check {
    protocol            = "HTTP"
    path                = "/"
    port                = "traffic-port"
    matcher             = "200-399"
    interval            = 5
    timeout             = 4
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = { Name = "${local.name}-web" }
}

resource "aws_lb_listener_rule" "web" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 100

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }

  condition {
    path_pattern {
      values = ["/*"]
    }
  }
}
