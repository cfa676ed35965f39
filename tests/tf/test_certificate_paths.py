"""The two certificate paths of terraform/certificate.tf, both run on the emulator.

On the emulator the course imports a self-signed pair (the override's default). On AWS the default is
``certificate_source = "acm-dns"``: ACM issues the certificate once its validation CNAME exists in a
hosted zone. That path is the first thing an AWS learner applies, so it runs here too, against a zone
of its own: moto marks a DNS-validated certificate ISSUED ``ACM_VALIDATION_WAIT`` seconds after the
request (AWS: https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html).
"""

from __future__ import annotations

import pytest

from helpers.runtime import aws
from helpers.runtime.emulator_server import ACM_VALIDATION_WAIT
from helpers.tf import standalone

ZONE = "acm-path.example"


@pytest.fixture
def zone(emulator_url):
    route53 = aws.client("route53")
    created = route53.create_hosted_zone(Name=ZONE, CallerReference="test-acm-dns")["HostedZone"]
    zone_id = created["Id"].split("/")[-1]
    yield zone_id
    for record in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]:
        if record["Type"] not in ("NS", "SOA"):
            route53.change_resource_record_sets(
                HostedZoneId=zone_id,
                ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": record}]},
            )
    route53.delete_hosted_zone(Id=zone_id)


def test_acm_dns_validation_issues_the_certificate_through_the_zone(zone, tmp_path):
    """terraform/ with certificate_source = "acm-dns": request, validation record, wait until ISSUED."""
    folder = standalone.prepare(tmp_path / "acm-dns")
    init = standalone.terraform(folder, "init", "-input=false", "-no-color")
    assert init.returncode == 0, init.stderr
    variables = ["-var=certificate_source=acm-dns", f"-var=hosted_zone_id={zone}", "-var=learner=acmpath"]
    target = ["-target=aws_acm_certificate_validation.issued"]  # the certificate's part of the stack only
    apply = standalone.terraform(
        folder, "apply", "-auto-approve", "-input=false", "-no-color", *variables, *target, timeout=300
    )
    try:
        assert apply.returncode == 0, apply.stdout[-3000:] + apply.stderr
        acm = aws.client("acm")
        issued = [
            acm.describe_certificate(CertificateArn=c["CertificateArn"])["Certificate"]
            for c in acm.list_certificates()["CertificateSummaryList"]
            if c["DomainName"] == f"acmpath.{ZONE}"
        ]
        assert [c["Status"] for c in issued] == ["ISSUED"], "one certificate, issued after its DNS validation"
        assert (
            issued[0]["Type"] == "AMAZON_ISSUED"
            and issued[0]["DomainValidationOptions"][0]["ValidationMethod"] == "DNS"
        )
        cname = issued[0]["DomainValidationOptions"][0]["ResourceRecord"]["Name"]
        records = aws.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        assert [r["Type"] for r in records if r["Name"] == cname] == ["CNAME"], "the validation record is in the zone"
        assert "aws_acm_certificate_validation.issued[0]: Creation complete" in apply.stdout
        assert ACM_VALIDATION_WAIT < 60, "moto's own default (60 s) would make every acm-dns apply wait a minute"
    finally:
        destroy = standalone.terraform(
            folder, "destroy", "-auto-approve", "-input=false", "-no-color", *variables, *target, timeout=300
        )
        assert destroy.returncode == 0, destroy.stderr
