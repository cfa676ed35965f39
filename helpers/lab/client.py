"""The lab's client: one HTTP(S) request, answered like ``curl -i``.

    reply = curl("https://app.ecs-alb.example/", resolve="app.ecs-alb.example:443:203.0.113.10")
    reply.status, reply.headers, reply.body, reply.certificate_subject, reply.elapsed

Runnable inside a lab namespace, where the notebook cannot go itself (``lab curl`` runs it so):

    python -m helpers lab exec -- python -m helpers.lab.client URL [--resolve host:port:addr] [--json]

``--json`` prints the reply as one JSON object (the lab's CLI parses it). A connection that fails
is not an exception: the reply has status 0 and ``error`` says what happened (refused, timed
out, a certificate not valid for the name), as curl prints it.

HTTPS is verified as curl verifies it: the server's certificate must chain to a certificate
authority the client trusts and be valid for the URL's host name. ``cafile`` (curl's --cacert)
names the only authority to trust, as the lab does with the course's own CA (helpers/tf/certificate.py);
without it, the system's trust store, as on AWS, where ACM's certificates chain to public
authorities. ``insecure`` (curl's -k) shows the certificate without checking it: for a request to a
name the certificate does not cover, such as the load balancer's own DNS name.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import socket
import ssl
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import CourseError


@dataclass
class Reply:
    url: str
    status: int = 0  # 0: no HTTP answer (see error)
    reason: str = ""
    version: str = "HTTP/1.1"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    certificate_subject: str | None = None
    verified: bool = False  # HTTPS: the certificate chains to a trusted authority and is valid for the host name
    elapsed: float = 0.0  # seconds, from connecting to the last byte
    error: str = ""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    @property
    def summary(self) -> str:
        """One line: the status and reason (or curl's error) and the time taken, in milliseconds."""
        what = f"{self.status} {self.reason}".rstrip() if self.status else f"no answer: {self.error}"
        return f"{what} in {self.elapsed * 1000:.0f} ms"

    def to_dict(self) -> dict:
        return {
            "url": self.url,
            "status": self.status,
            "reason": self.reason,
            "version": self.version,
            "headers": self.headers,
            "body_base64": base64.b64encode(self.body).decode(),
            "certificate_subject": self.certificate_subject,
            "verified": self.verified,
            "elapsed": self.elapsed,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Reply:
        fields = {k: v for k, v in data.items() if k != "body_base64"}
        fields["headers"] = [tuple(h) for h in fields.get("headers", [])]
        return cls(body=base64.b64decode(data.get("body_base64", "")), **fields)

    def __repr__(self) -> str:
        if not self.status:
            return f"curl: {self.error} ({self.url}, after {self.elapsed:.2f} s)"
        lines = [f"{self.version} {self.status} {self.reason}".rstrip()]
        lines += [f"{k}: {v}" for k, v in self.headers]
        text = self.text
        return (
            "\n".join(lines) + "\n\n" + (text if len(text) <= 2000 else text[:2000] + f"\n… ({len(self.body)} bytes)")
        )

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))


def _resolved(host: str, port: int, resolve) -> str:
    """curl's --resolve host:port:addr (one string or a list of them)."""
    for entry in [resolve] if isinstance(resolve, str) else list(resolve or []):
        name, sep, rest = entry.partition(":")
        entry_port, sep2, address = rest.partition(":")
        if not (sep and sep2 and entry_port.isdigit() and address):
            raise CourseError(
                f"--resolve {entry!r} is not host:port:address.",
                "Like curl's, each --resolve entry names a host, a port and the address to use for them.",
                "write it as app.ecs-alb.example:443:203.0.113.10",
            )
        if name.lower() == host.lower() and int(entry_port) == port:
            return address.strip("[]")
    return host


def _subject(der: bytes | None) -> str | None:
    if not der:
        return None
    from cryptography import x509  # heavy: only to read the server's certificate

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


def _tls(cafile: str | Path | None, insecure: bool) -> ssl.SSLContext:
    """The client's TLS: verify against ``cafile`` only, or the system's store; ``insecure``: no check."""
    if insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        return ctx
    if cafile is not None and not Path(cafile).is_file():
        raise CourseError(
            f"No certificate authority file {cafile}.",
            "A verified HTTPS request trusts the authority in that file, and there is none.",
            "give the path of a PEM certificate (the lab's: python -m helpers lab status), or none for the "
            "system's trust store",
        )
    return ssl.create_default_context(cafile=str(cafile) if cafile else None)


def _not_verified(exc: ssl.SSLCertVerificationError, host: str, cafile) -> str:
    """curl's error 60, saying which check failed."""
    trusted = f"the authority in {cafile}" if cafile else "the system's trusted authorities"
    if exc.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
        return (
            f"(60) SSL: the certificate is not valid for {host}: it names another domain "
            "(a request to a name the certificate does not cover needs curl -k, insecure=True)"
        )
    return f"(60) SSL certificate problem: {exc.verify_message}: the certificate does not chain to {trusted}"


def curl(
    url: str,
    resolve=None,
    timeout: float = 15.0,
    *,
    method: str = "GET",
    headers: dict | None = None,
    data: bytes | None = None,
    cafile: str | Path | None = None,
    insecure: bool = False,
) -> Reply:
    """One request to ``url``; ``resolve`` as curl's --resolve; ``timeout`` bounds connecting and each read;
    ``cafile`` and ``insecure`` as curl's --cacert and -k."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CourseError(
            f"{url!r} is not an http:// or https:// URL.",
            "The lab's client sends HTTP requests only.",
            "give a URL such as https://app.ecs-alb.example/",
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _resolved(parts.hostname, port, resolve)
    reply = Reply(url)
    started = time.monotonic()
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except TimeoutError:
        reply.error = f"(28) Connection timed out after {timeout:g} s"
    except ConnectionRefusedError:
        reply.error = f"(7) Failed to connect to {address} port {port}: Connection refused"
    except OSError as exc:
        reply.error = f"(7) Failed to connect to {address} port {port}: {exc.strerror or exc}"
    if reply.error:
        reply.elapsed = time.monotonic() - started
        return reply
    try:
        if parts.scheme == "https":
            sock = _tls(cafile, insecure).wrap_socket(sock, server_hostname=parts.hostname)
            reply.certificate_subject = _subject(sock.getpeercert(binary_form=True))
            reply.verified = not insecure
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        sent = {"Host": host, "User-Agent": "lab-curl/1.0", "Accept": "*/*", **(headers or {})}
        if data is not None:
            sent["Content-Length"] = str(len(data))
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in sent.items()) + "\r\n"
        sock.sendall(head.encode("latin-1") + (data or b""))
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        reply.body = response.read()
        reply.status, reply.reason = response.status, response.reason
        reply.version = "HTTP/1.1" if response.version == 11 else "HTTP/1.0"
        reply.headers = list(response.getheaders())
    except TimeoutError:
        reply.error = f"(28) Operation timed out after {timeout:g} s with no answer"
    except ssl.SSLCertVerificationError as exc:
        reply.error = _not_verified(exc, parts.hostname, cafile)
    except ssl.SSLError as exc:
        reply.error = f"(35) TLS handshake failed: {exc.reason or exc}"
    except (http.client.HTTPException, OSError) as exc:
        reply.error = f"(56) Failure receiving data: {exc.__class__.__name__} {exc}".rstrip()
    finally:
        sock.close()
        reply.elapsed = time.monotonic() - started
    return reply


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.lab.client", description="One request, like curl -i.")
    parser.add_argument("url")
    parser.add_argument("--resolve", action="append", default=[], help="host:port:address, as curl's")
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--method", "-X", default="GET")
    parser.add_argument("--header", "-H", action="append", default=[], help="Name: value")
    parser.add_argument("--json", action="store_true", help="print the reply as JSON")
    parser.add_argument("--cacert", help="trust only this certificate authority (PEM), as curl's")
    parser.add_argument("--insecure", "-k", action="store_true", help="do not verify the certificate, as curl's")
    args = parser.parse_args(argv)
    try:
        headers = dict(h.split(":", 1) for h in args.header)
        reply = curl(
            args.url,
            args.resolve,
            args.timeout,
            method=args.method,
            headers={k.strip(): v.strip() for k, v in headers.items()},
            cafile=args.cacert,
            insecure=args.insecure,
        )
    except (CourseError, ValueError) as exc:
        print(exc.render() if isinstance(exc, CourseError) else f"bad --header: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(reply.to_dict()) if args.json else repr(reply))
    return 0 if reply.status or args.json else 1


if __name__ == "__main__":
    sys.exit(main())
