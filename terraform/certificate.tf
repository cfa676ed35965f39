# Two ways to get the HTTPS certificate; certificate_source picks one.

# "import": a certificate you bring. On the emulator the course generates a
# pair signed by its own CA at run time (never committed) and imports it.
resource "aws_acm_certificate" "imported" {
  count = var.certificate_source == "import" ? 1 : 0

  certificate_body = file(var.certificate_file)
  private_key      = file(var.private_key_file)

  tags = { Name = local.domain_name }
}

# "acm-dns": ACM issues the certificate once a DNS record proves you control the domain.
resource "aws_acm_certificate" "issued" {
  count = var.certificate_source == "acm-dns" ? 1 : 0

  domain_name       = local.domain_name
  validation_method = "DNS"

  tags = { Name = local.domain_name }

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = var.hosted_zone_id != ""
      error_message = "DNS validation needs a public hosted zone that the internet already resolves: set hosted_zone_id to your zone's ID (domain_name then defaults to <learner>.<zone>), or use certificate_source = \"import\"."
    }

    precondition {
      condition     = try(endswith(local.domain_name, ".${trimsuffix(data.aws_route53_zone.given[0].name, ".")}"), true)
      error_message = "domain_name must be a name inside the zone hosted_zone_id names (e.g. app.example.com in example.com): ACM's validation record goes into that zone."
    }
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each = {
    for option in flatten(aws_acm_certificate.issued[*].domain_validation_options) : option.domain_name => option
  }

  zone_id         = local.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 60
  allow_overwrite = true
}

# Waits until ACM has issued the certificate. Listeners use *this* ARN, so they
# are never created with a certificate that is still pending validation.
resource "aws_acm_certificate_validation" "issued" {
  count = length(aws_acm_certificate.issued)

  certificate_arn         = aws_acm_certificate.issued[0].arn
  validation_record_fqdns = [for record in aws_route53_record.certificate_validation : record.fqdn]
}

locals {
  certificate_arn = one(concat(aws_acm_certificate.imported[*].arn, aws_acm_certificate_validation.issued[*].certificate_arn))
}
