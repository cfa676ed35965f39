resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "Load balancer: HTTPS and HTTP from the internet"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-alb" }
}

resource "aws_security_group_rule" "alb_https_in" {
  description       = "HTTPS from anywhere"
  type              = "ingress"
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_blocks       = ["0.0.0.0/0"]
  security_group_id = aws_security_group.alb.id
}

resource "aws_security_group_rule" "alb_http_in" {
  #checkov:skip=CKV_AWS_260:a public website; the listener on port 80 only redirects to HTTPS
  description       = "HTTP from anywhere, only to be redirected to HTTPS"
  type              = "ingress"
  protocol          = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_blocks       = ["0.0.0.0/0"]
  security_group_id = aws_security_group.alb.id
}

# Explicit egress: Terraform removes AWS's default allow-all egress rule, and an
# ALB needs to reach its targets (requests and health checks) on their host ports.
resource "aws_security_group_rule" "alb_to_targets" {
  description       = "To ECS tasks on their dynamic host ports, inside the VPC only"
  type              = "egress"
  protocol          = "tcp"
  from_port         = var.host_port_range.from
  to_port           = var.host_port_range.to
  cidr_blocks       = [var.vpc_cidr]
  security_group_id = aws_security_group.alb.id
}
