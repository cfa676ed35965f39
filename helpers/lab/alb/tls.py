"""An HTTPS listener's TLS, as its security policy says: the TLS versions and the ciphers.

    policy = tls_policy.describe("ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09")
    policy.versions, policy.ciphers
    ctx = tls_policy.server_context(policy, cert_path, key_path)

A security policy is AWS's table of protocols and ciphers, in order of preference
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
``describe`` reads it as AWS publishes it, with ``DescribeSSLPolicies`` (``aws elbv2
describe-ssl-policies``), from the emulator: the lab keeps no table of its own. A listener without
``SslPolicy`` gets ``ELBSecurityPolicy-2016-08``, the API's default.

``server_context`` makes the listener's TLS: the policy's lowest to highest version, its TLS 1.2
(and older) ciphers in the policy's order, the server's order first, as AWS chooses "the first
cipher on the server's list that matches any one of the client's ciphers".

What the lab cannot do, and says so:

- Post-quantum key exchange. Policies named ``PQ`` add hybrid ML-KEM groups (X25519MLKEM768,
  SecP256r1MLKEM768, SecP384r1MLKEM1024). This machine's OpenSSL 3.0 has no ML-KEM (OpenSSL 3.5
  adds it), so a lab listener offers the classical groups only (X25519, P-256, ...): a client
  that offers a hybrid group gets a classical key exchange from the lab, a post-quantum one from AWS.
- Choosing TLS 1.3 suites: Python's ssl module cannot set them. OpenSSL's default three are those
  of every AWS policy with TLS 1.3 (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
  TLS_CHACHA20_POLY1305_SHA256); ``server_context`` checks that the policy asks for no other set.
"""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from ...errors import CourseError
from ...runtime import aws

DOC = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html"
API_DEFAULT = "ELBSecurityPolicy-2016-08"  # what CreateListener applies to an HTTPS listener given none
RECOMMENDED = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"  # AWS's recommendation, the console's default
VERSIONS = {  # the protocol names of DescribeSSLPolicies
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class SecurityPolicy:
    name: str
    protocols: tuple[str, ...]  # "TLSv1.2", "TLSv1.3", as DescribeSSLPolicies names them
    ciphers: tuple[str, ...]  # in the policy's order of preference; OpenSSL names, TLS 1.3's as IANA's

    @property
    def versions(self) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
        """(lowest, highest) TLS version the policy accepts."""
        known = sorted(VERSIONS[p] for p in self.protocols if p in VERSIONS)
        return known[0], known[-1]

    @property
    def tls13_suites(self) -> tuple[str, ...]:
        return tuple(c for c in self.ciphers if c.startswith("TLS_"))

    @property
    def tls12_ciphers(self) -> tuple[str, ...]:
        """The ciphers of TLS 1.2 and older (OpenSSL's names)."""
        return tuple(c for c in self.ciphers if not c.startswith("TLS_"))

    @property
    def post_quantum(self) -> bool:
        """A policy with hybrid post-quantum key exchange on AWS (named ``PQ``); not in the lab."""
        return "-PQ-" in self.name


_described: dict[str, SecurityPolicy] = {}  # name -> policy; AWS's policies never change once published


def describe(name: str | None, client=None) -> SecurityPolicy:
    """The security policy ``name`` (None: the API's default) as DescribeSSLPolicies describes it."""
    name = name or API_DEFAULT
    if name in _described:
        return _described[name]
    elbv2 = (client or aws.client)("elbv2")
    try:
        found = elbv2.describe_ssl_policies(Names=[name])["SslPolicies"]
    except elbv2.exceptions.SSLPolicyNotFoundException:
        found = []
    described = [p for p in found if p.get("Name") == name and p.get("SslProtocols")]
    if not described:
        known = sorted(p["Name"] for p in elbv2.describe_ssl_policies()["SslPolicies"])
        raise CourseError(
            f"The lab's load balancer cannot serve the security policy {name!r}.",
            "It takes a policy's TLS versions and ciphers from DescribeSSLPolicies, and the emulator "
            f"describes no policy of that name (it describes: {', '.join(known)}).",
            f'set the listener\'s ssl_policy to one of those, e.g. ssl_policy = "{RECOMMENDED}" ({DOC}).',
        )
    policy = described[0]
    ciphers = sorted(policy.get("Ciphers", []), key=lambda c: c.get("Priority", 0))
    _described[name] = SecurityPolicy(
        name=name, protocols=tuple(policy["SslProtocols"]), ciphers=tuple(c["Name"] for c in ciphers)
    )
    return _described[name]


def server_context(policy: SecurityPolicy, cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """The TLS of an HTTPS listener: its certificate (PEM files), the policy's versions and ciphers."""
    low, high = policy.versions
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    if policy.tls12_ciphers:
        # OpenSSL 3 refuses TLS 1.0/1.1 and SHA-1 at its default security level; such policies allow them.
        level = ":@SECLEVEL=0" if low < ssl.TLSVersion.TLSv1_2 else ""
        ctx.set_ciphers(":".join(policy.tls12_ciphers) + level)
    openssl_tls13 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.3"}
    if high == ssl.TLSVersion.TLSv1_3 and set(policy.tls13_suites) != openssl_tls13:
        raise CourseError(
            f"The lab's load balancer cannot serve the TLS 1.3 suites of {policy.name}.",
            f"The policy asks for {', '.join(policy.tls13_suites)}; Python's ssl module cannot choose TLS 1.3 "
            f"suites, and OpenSSL offers {', '.join(sorted(openssl_tls13))}.",
            f'use a policy with the usual three TLS 1.3 suites, e.g. ssl_policy = "{RECOMMENDED}".',
        )
    with warnings.catch_warnings():  # Python deprecates TLS 1.0/1.1; some ELB policies still allow them
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version, ctx.maximum_version = low, high
    ctx.load_cert_chain(cert_path, key_path)
    return ctx
