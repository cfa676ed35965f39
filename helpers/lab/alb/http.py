"""HTTP/1.1 on h11 in both directions of the load balancer: clients' requests in, targets' answers back.

- ``ClientConnection``: one client's connection to a listener: its requests one after the other
  (pipelined ones too), each answered before the next is read, as h11 (the sans-IO HTTP/1.1
  library under httpx and uvicorn, https://h11.readthedocs.io/) frames them;
- ``exchange()``: one request to a target and its response over streams (the health checks', and the
  forwarder's to HTTPS targets), ``exchange_on()`` the same on a bare socket (the forwarder's to HTTP
  targets); ``read_response()`` the response half;
- ``Request``, ``Response``, ``Answer`` (what the load balancer sends back) and ``Malformed``.

What h11 does not decide and the load balancer does
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html,
the header sizes on https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html#http-headers-quotas):

- 400 for a malformed request, a request line over 16K, one header over 16K or all of them over 64K, as AWS
  documents; and for Content-Length together with Transfer-Encoding (a smuggling attempt; h11 would let chunked
  win), as an ALB in the ``strictest`` desync mitigation mode does. AWS's default mode, ``defensive``, classifies
  such a request as ambiguous, forwards it and closes both connections
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#desync-mitigation-mode;
  README's "What differs from AWS");
- 501 for a Transfer-Encoding other than chunked (h11's own hint; AWS also accepts ``identity``: a difference);
- one or more empty lines before a request line are skipped (RFC 9112 section 2.2; h11 refuses them).

A target's response that h11 refuses, that closes early or whose header passes 32K is ``Malformed``
(the forwarder answers 502).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import socket
from dataclasses import dataclass

import h11

SERVER = "awselb/2.0"
READ_SIZE = 65536
MAX_BODY = 64 * 1024 * 1024  # the lab's bound on one buffered body (AWS has none for instance and IP targets)
REQUEST_LINE_LIMIT = 16 * 1024  # AWS: 16K per request line
HEADER_LIMIT = 16 * 1024  # 16K per single header
REQUEST_HEAD_LIMIT = 64 * 1024  # 64K for the entire request header
RESPONSE_HEAD_LIMIT = 32 * 1024  # 32K for the entire response header
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_PASSED_ON = HOP_BY_HOP | {"content-length"}  # the load balancer frames each answer itself
REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    463: "",
    464: "",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


class Malformed(Exception):
    """The peer's bytes are not acceptable HTTP/1.1; ``status`` is what the load balancer answers a client."""

    def __init__(self, text: str, status: int = 400):
        super().__init__(text)
        self.status = status


# --------------------------------------------------------------------------- messages


def _find(headers: list[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (any case); None without one."""
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


@dataclass
class Request:
    method: str
    target: str  # as sent: /path?query
    version: str  # HTTP/1.0, HTTP/1.1, or HTTP/2 (helpers/lab/alb/http2.py)
    headers: list[tuple[str, str]]  # as sent: names keep their case
    body: bytes

    def header(self, name: str) -> str | None:
        return _find(self.headers, name)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (self.header("Connection") or "").split(",")}
        return "keep-alive" in tokens if self.version == "HTTP/1.0" else "close" not in tokens


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    version: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        return _find(self.headers, name)


def page(status: int) -> bytes:
    """The ALB's own error page (what an ALB answers with its 4xx/5xx)."""
    title = f"{status} {REASONS.get(status, '')}".strip()
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    ).encode()


@dataclass
class Answer:
    """What the load balancer sends a client: its own page, a redirect, a fixed response or a target's."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reason: str = ""

    def header(self, name: str) -> str | None:
        return _find(self.headers, name)

    @classmethod
    def error(cls, status: int) -> Answer:
        return cls(status, [("Server", SERVER), ("Content-Type", "text/html")], page(status))


def _pairs(event) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers.raw_items()]


def _wire(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Headers as h11 sends them: one byte per character, as ``_pairs`` read them. (Given str, h11 encodes
    ASCII and fails on the bytes 0x80-0xFF that a field value may hold, RFC 9110 section 5.5.)"""
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def _framing_checked(headers: list[tuple[str, str]], limit: int) -> None:
    """Content-Length with Transfer-Encoding, or a head over ``limit``: Malformed."""
    names = {k.lower() for k, _ in headers}
    if "content-length" in names and "transfer-encoding" in names:
        raise Malformed("both Content-Length and Transfer-Encoding")
    if sum(len(k) + len(v) + 4 for k, v in headers) > limit:
        raise Malformed("header too large")


# --------------------------------------------------------------------------- clients' requests


class ClientConnection:
    """One client's connection to a listener: ``await next_request()``, then ``await send(answer)``, in turn.

    ``next_request`` returns None when the client has closed the connection between two requests and
    raises Malformed (with the status to answer); ``send`` returns whether the connection goes on.
    A client that sends ``Expect: 100-continue`` is told to go on before its body is read.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=REQUEST_HEAD_LIMIT)
        self.method = "GET"  # the request being answered (a HEAD's answer has no body)

    def _feed(self, data: bytes) -> None:
        """Bytes read (b"": the client closed); empty lines before a request line are skipped (RFC 9112 2.2)."""
        if data and self.h11.their_state is h11.IDLE and not self.h11.trailing_data[0]:
            data = data.lstrip(b"\r\n")
            if not data:
                return
        self.h11.receive_data(data)

    async def next_request(self) -> Request | None:
        head, body = None, bytearray()
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise Malformed(str(exc), 501 if exc.error_status_hint == 501 else 400) from None
            if event is h11.NEED_DATA:
                if self.h11.they_are_waiting_for_100_continue:
                    self.writer.write(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
                self._feed(await self.reader.read(READ_SIZE))
            elif isinstance(event, h11.Request):
                head = self._checked(event)
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    raise Malformed("body too large")
            elif isinstance(event, h11.EndOfMessage):
                method, target, version, headers = head
                self.method = method
                return Request(method, target, version, headers, bytes(body))
            else:  # ConnectionClosed between two requests (h11 raises for one cut short)
                return None

    @staticmethod
    def _checked(event: h11.Request) -> tuple[str, str, str, list[tuple[str, str]]]:
        if event.http_version not in (b"1.0", b"1.1"):
            raise Malformed(f"HTTP/{event.http_version.decode()} in an HTTP/1 request line")
        if len(event.method) + len(event.target) + 10 > REQUEST_LINE_LIMIT:
            raise Malformed("request line too long")
        headers = _pairs(event)
        if any(len(k) + len(v) + 2 > HEADER_LIMIT for k, v in headers):
            raise Malformed("a header too large")
        _framing_checked(headers, REQUEST_HEAD_LIMIT)
        version = "HTTP/" + event.http_version.decode()
        return event.method.decode("latin-1"), event.target.decode("latin-1"), version, headers

    async def send(self, answer: Answer, *, keep_alive: bool) -> bool:
        """Write ``answer`` (with Date, Content-Length and Connection); whether the connection goes on."""
        headers = [(k, v) for k, v in answer.headers if k.lower() not in NOT_PASSED_ON]
        if not any(k.lower() == "date" for k, _ in headers):
            headers.insert(0, ("Date", email.utils.formatdate(usegmt=True)))
        bodiless = self.method == "HEAD" or answer.status in (204, 304)
        if self.method == "HEAD":
            length = _find(answer.headers, "content-length")
            if length is not None:
                headers.append(("Content-Length", length))
        elif not bodiless:
            headers.append(("Content-Length", str(len(answer.body))))
        headers.append(("Connection", "keep-alive" if keep_alive else "close"))
        reason = answer.reason or REASONS.get(answer.status, "")
        response = h11.Response(status_code=answer.status, headers=_wire(headers), reason=reason.encode("latin-1"))
        data = self.h11.send(response)
        if answer.body and not bodiless:
            data += self.h11.send(h11.Data(data=answer.body))
        data += self.h11.send(h11.EndOfMessage())
        self.writer.write(data)
        await self.writer.drain()
        if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
            return False
        self.method = "GET"
        rest, closed = self.h11.trailing_data  # pipelined bytes already read: the next request's
        if not rest.startswith((b"\r", b"\n")):
            self.h11.start_next_cycle()  # the same h11 connection, its read-ahead kept
            return True
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=REQUEST_HEAD_LIMIT)
        self._feed(rest)  # empty lines before the next request line, which h11 refuses: skipped
        if closed:
            self.h11.receive_data(b"")
        return True


# --------------------------------------------------------------------------- targets' answers


def _client(method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> tuple[h11.Connection, bytes]:
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=RESPONSE_HEAD_LIMIT)
    request = h11.Request(method=method.encode("latin-1"), target=target.encode("latin-1"), headers=_wire(headers))
    data = conn.send(request)
    if body:
        data += conn.send(h11.Data(data=body))
    return conn, data + conn.send(h11.EndOfMessage())


async def exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
) -> Response:
    """Send one request (``headers`` must hold Host, and Content-Length for a body); its response.

    Raises Malformed for an answer that is not HTTP/1.1 or is cut short, OSError for the connection.
    """
    conn, data = _client(method, target, headers, body)
    writer.write(data)
    await writer.drain()
    return await _response(conn, functools.partial(reader.read, READ_SIZE))


async def exchange_on(
    sock: socket.socket, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
) -> Response:
    """``exchange()`` on a connected non-blocking socket, with the event loop's ``sock_sendall`` and
    ``sock_recv``: no transport and no stream objects to make and tear down for one request (the
    forwarder's, per request to an HTTP target). The caller closes the socket."""
    loop = asyncio.get_running_loop()
    conn, data = _client(method, target, headers, body)
    await loop.sock_sendall(sock, data)
    return await _response(conn, functools.partial(loop.sock_recv, sock, READ_SIZE))


async def read_response(reader: asyncio.StreamReader, *, method: str = "GET", conn: h11.Connection | None = None):
    """One response (interim 1xx skipped) to the request sent on ``conn`` (by default one ``method`` request)."""
    if conn is None:
        conn = _client(method, "/", [("Host", "target")], b"")[0]
    return await _response(conn, functools.partial(reader.read, READ_SIZE))


async def _response(conn: h11.Connection, receive) -> Response:
    """The response to the request sent on ``conn``; ``await receive()`` gives the next bytes (b"": closed)."""
    head, headers, body = None, [], bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise Malformed(str(exc), 502) from None
        if event is h11.NEED_DATA:
            conn.receive_data(await receive())
        elif isinstance(event, h11.InformationalResponse):
            continue
        elif isinstance(event, h11.Response):
            head, headers = event, _pairs(event)
            _framing_checked(headers, RESPONSE_HEAD_LIMIT)
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                raise Malformed("body too large", 502)
        elif isinstance(event, h11.EndOfMessage):
            return Response(
                head.status_code,
                head.reason.decode("latin-1"),
                headers,
                bytes(body),
                "HTTP/" + head.http_version.decode(),
            )
        else:
            raise Malformed("the connection closed before a response", 502)
