# The zone that holds domain_name. Created only when no existing zone is given
# (the emulator, or a fresh domain your registrar will delegate to it).
resource "aws_route53_zone" "course" {
  # query logging needs a log group in us-east-1 with a resource policy
  #checkov:skip=CKV2_AWS_39:this zone is for the emulator or a new domain: no query logging
  # DNSSEC signing needs a KMS key and a DS record at the registrar
  #checkov:skip=CKV2_AWS_38:no DNSSEC signing here; production enables it
  count = var.hosted_zone_id == "" ? 1 : 0

  name          = local.zone_name
  comment       = "ecs-alb course (${var.learner})"
  force_destroy = true

  tags = { Name = local.zone_name }
}

# The zone you gave, to check that domain_name belongs to it.
data "aws_route53_zone" "given" {
  count = var.hosted_zone_id != "" ? 1 : 0

  zone_id = var.hosted_zone_id
}

locals {
  # No domain_name given: app.ecs-alb.example in the zone created here (each learner has a zone
  # of their own), or <learner>.<zone> in a given zone, which a whole class may share.
  domain_name = var.domain_name != "" ? var.domain_name : (
    var.hosted_zone_id != ""
    ? "${var.learner}.${trimsuffix(one(data.aws_route53_zone.given[*].name), ".")}"
    : "app.ecs-alb.example"
  )

  # app.ecs-alb.example -> ecs-alb.example
  zone_name = regex("^[^.]+\\.(.+)$", local.domain_name)[0]
  zone_id   = var.hosted_zone_id != "" ? var.hosted_zone_id : aws_route53_zone.course[0].zone_id
}
