"""The two certificate paths of terraform/certificate.tf, both run on the emulator.

On the emulator the course imports a pair its own CA signed (the override's default). On AWS the default is
``certificate_source = "acm-dns"``: ACM issues the certificate once its validation CNAME exists in a
hosted zone. That path is the first thing an AWS learner applies, so it runs here too, against a zone
of its own: moto marks a DNS-validated certificate ISSUED ``ACM_VALIDATION_WAIT`` seconds after the
request (AWS: https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html).
"""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from helpers.runtime import aws
from helpers.runtime.emulator_server import ACM_VALIDATION_WAIT
from helpers.tf import certificate, standalone

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


def _self_signed(domain: str, cert_path, key_path) -> None:
    """A pair as the course made it before it had a CA: signed by its own key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def test_the_course_ca_signs_the_listener_certificate_and_replaces_a_self_signed_one(tmp_path):
    """issue(): a certificate for the name, signed by the course's CA (a CA certificate: basicConstraints CA),
    made once; a pair from before the CA (self-signed) is issued again, so the lab's client can verify it."""
    domain = "app.ecs-alb.example"
    _self_signed(domain, tmp_path / f"{domain}.crt", tmp_path / f"{domain}.key")
    cert_path, key_path = certificate.issue(domain, tmp_path)
    ca = x509.load_pem_x509_certificate(certificate.authority_file().read_bytes())
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cert.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == [domain]
    assert key_path.stat().st_mode & 0o077 == 0, "the private key must be readable by its owner only"
    assert certificate.issue(domain, tmp_path) == (cert_path, key_path)
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()) == cert, "made once, then reused"
