"""A self-signed certificate for the HTTPS listener on the emulator.

Generated at run time into the workspace's ``certs/`` folder (git-ignored,
like the whole workspace), never committed. On real AWS the course asks ACM
to issue a certificate instead (``certificate_source = "acm-dns"``).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from .. import workspace

DOMAIN = "app.ecs-alb.example"  # local.domain_name in terraform/zone.tf when no domain or zone is given


def self_signed(domain: str = DOMAIN, folder: Path | None = None) -> tuple[Path, Path]:
    """(certificate, private key) PEM files for ``domain`` in ``folder`` (the workspace's certs/); made once, then reused."""
    folder = folder or workspace.path("certs")
    cert_path, key_path = folder / f"{domain}.crt", folder / f"{domain}.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path

    from cryptography import x509  # heavy: only when a certificate is made
    from cryptography.hazmat.primitives import hashes, serialization  # heavy: only when a certificate is made
    from cryptography.hazmat.primitives.asymmetric import rsa  # heavy: only when a certificate is made
    from cryptography.x509.oid import NameOID  # heavy: only when a certificate is made

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
