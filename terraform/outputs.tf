output "url" {
  description = "Where the service answers."
  value       = "https://${local.domain_name}/"
}

output "alb_dns_name" {
  description = "The load balancer's own name (the alias record points here)."
  value       = aws_lb.main.dns_name
}

output "alb_security_group_id" {
  description = "The load balancer's security group: the only source the instances accept."
  value       = aws_security_group.alb.id
}

output "instance_security_group_id" {
  description = "The container instances' security group."
  value       = aws_security_group.instances.id
}

output "target_group_arn" {
  description = "Where ECS registers the tasks."
  value       = aws_lb_target_group.web.arn
}

output "ecs_cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.main.name
}

output "ecs_service_name" {
  description = "The ECS service."
  value       = aws_ecs_service.web.name
}

output "name_servers" {
  description = <<-EOT
    Name servers of the zone the course created (empty when you gave hosted_zone_id): your
    registrar must delegate to them.
  EOT
  value       = flatten(aws_route53_zone.course[*].name_servers)
}
