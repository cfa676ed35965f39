resource "aws_lb" "main" {
  #checkov:skip=CKV_AWS_150:learners must be able to destroy the stack; production turns deletion protection on
  #checkov:skip=CKV_AWS_91:access logs need an S3 bucket whose policy lets the load balancer write; production enables them
  #checkov:skip=CKV2_AWS_28:AWS WAF bills every web ACL and rule monthly; production puts one in front of a public ALB
  name               = local.name
  load_balancer_type = "application"
  internal           = false
  security_groups    = [aws_security_group.alb.id]
  subnets            = aws_subnet.public[*].id

  # Remove header fields with invalid names before the request reaches nginx.
  drop_invalid_header_fields = true

  tags = { Name = local.name }
}

# Port 80 answers every request with a permanent redirect to HTTPS.
resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.main.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

# Port 443 ends TLS with the ACM certificate. Requests no rule claims get a 404;
# notebook 05 adds the rule that forwards to the target group.
resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
  certificate_arn   = local.certificate_arn

  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Not found"
      status_code  = "404"
    }
  }
}
