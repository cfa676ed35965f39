# The only way in: from the load balancer's security group, on the host ports
# the ECS agent hands out in bridge mode. No CIDR, so nothing on the internet matches.
resource "aws_security_group_rule" "instances_from_alb" {
  description              = "Dynamic host ports, only from the load balancer"
  type                     = "ingress"
  protocol                 = "tcp"
  from_port                = var.host_port_range.from
  to_port                  = var.host_port_range.to
  source_security_group_id = aws_security_group.alb.id
  security_group_id        = aws_security_group.instances.id
}
