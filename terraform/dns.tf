# An alias record: Route 53 answers with the load balancer's current addresses
# itself (no CNAME lookup, no TTL to manage, free of charge).
resource "aws_route53_record" "app" {
  zone_id = local.zone_id
  name    = local.domain_name
  type    = "A"

  alias {
    name                   = aws_lb.main.dns_name
    zone_id                = aws_lb.main.zone_id
    evaluate_target_health = true
  }
}
