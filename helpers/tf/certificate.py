"""The course's certificates on the emulator: a certificate authority of its own, and what it signs.

    ca_cert, ca_key = authority()        certs/ca/course-ca.crt and .key
    cert, key = issue("app.ecs-alb.example")   certs/app.ecs-alb.example.crt and .key, signed by the CA

Generated at run time into the workspace's ``certs/`` folder (git-ignored, like the whole
workspace), never committed. Notebook 04 imports the listener's certificate into ACM
(``certificate_source = "import"``) and the lab's load balancer nodes serve it; the lab's client
trusts the course's CA, and only it, so a request verifies the certificate for the name as it
does on AWS: a certificate for another name, or from another issuer, fails. On real AWS the course
asks ACM to issue a certificate instead (``certificate_source = "acm-dns"``), which the public
certificate authorities in every client's trust store vouch for.

The CA signs nothing but the workspace's certificates: its key lives in ``certs/ca/`` next to
them, readable by the learner only.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from .. import workspace

DOMAIN = "app.ecs-alb.example"  # local.domain_name in terraform/zone.tf when no domain or zone is given
CA_NAME = "ecs-alb course CA (emulator only)"
CA_DAYS = 3650
CERT_DAYS = 365
RENEW_DAYS = 30  # a certificate that ends within this many days is issued again


def authority_file() -> Path:
    """The course CA's certificate (made if missing): what the lab's client trusts."""
    return authority()[0]


def authority() -> tuple[Path, Path]:
    """(certificate, private key) PEM files of the course's CA, in the workspace's certs/ca/; made once."""
    folder = workspace.path("certs", "ca")
    cert_path, key_path = folder / "course-ca.crt", folder / "course-ca.key"
    if cert_path.exists() and key_path.exists() and _valid_for(_load(cert_path), RENEW_DAYS):
        return cert_path, key_path

    from cryptography import x509  # heavy: only when a certificate is made
    from cryptography.x509.oid import NameOID  # heavy: only when a certificate is made

    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    builder = _builder(name, name, key.public_key(), CA_DAYS)
    cert = (
        builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, _sha256())
    )
    _write(cert, key, cert_path, key_path)
    return cert_path, key_path


def issue(domain: str = DOMAIN, folder: Path | None = None) -> tuple[Path, Path]:
    """(certificate, private key) PEM files for ``domain``, signed by the course's CA, in ``folder`` (the
    workspace's certs/); made once, and again when the CA did not sign it or it ends within RENEW_DAYS."""
    folder = folder or workspace.path("certs")
    cert_path, key_path = folder / f"{domain}.crt", folder / f"{domain}.key"
    ca_cert_path, ca_key_path = authority()
    ca_cert = _load(ca_cert_path)
    if cert_path.exists() and key_path.exists():
        cert = _load(cert_path)
        if _valid_for(cert, RENEW_DAYS) and _signed_by(cert, ca_cert):
            return cert_path, key_path

    from cryptography import x509  # heavy: only when a certificate is made
    from cryptography.hazmat.primitives import serialization  # heavy: only when a certificate is made
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # heavy: only when a certificate is made

    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    cert = (
        _builder(subject, ca_cert.subject, key.public_key(), CERT_DAYS)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, _sha256())  # type: ignore[arg-type]
    )
    _write(cert, key, cert_path, key_path)
    return cert_path, key_path


# --------------------------------------------------------------------------- the parts


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import rsa  # heavy: only when a certificate is made

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sha256():
    from cryptography.hazmat.primitives import hashes  # heavy: only when a certificate is made

    return hashes.SHA256()


def _builder(subject, issuer, public_key, days: int):
    from cryptography import x509  # heavy: only when a certificate is made

    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _key_usage(*, ca: bool):
    from cryptography import x509  # heavy: only when a certificate is made

    return x509.KeyUsage(
        digital_signature=not ca,
        key_encipherment=not ca,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _load(path: Path):
    from cryptography import x509  # heavy: only to read a certificate

    return x509.load_pem_x509_certificate(path.read_bytes())


def _valid_for(cert, days: int) -> bool:
    return cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=days)


def _signed_by(cert, ca_cert) -> bool:
    from cryptography.exceptions import InvalidSignature  # heavy: only to read a certificate

    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):  # another issuer, or not its signature
        return False
    return True


def _write(cert, key, cert_path: Path, key_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization  # heavy: only when a certificate is made

    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.unlink(missing_ok=True)
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
