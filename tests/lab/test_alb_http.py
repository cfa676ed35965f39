"""The load balancer's HTTP/1.1 on h11 (helpers/lab/alb/http.py) and HTTP/2 on h2 (http2.py).

What the ALB treats as a malformed target response answers 502
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-502-issues);
framing as RFC 9112 defines it (Content-Length, chunked, until close). The request side runs on a real
socket pair: the test writes a client's bytes on one end, the ALB's connection reads and answers on the other.
"""

from __future__ import annotations

import asyncio
import socket

import h2.config
import h2.connection
import h2.events
import pytest

from helpers.lab.alb import http, http2, router


def _reader(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


def run(coro):
    return asyncio.run(coro)


def parse(read, raw: bytes):
    """``read`` (read_response or read_request) on a reader holding ``raw``, inside an event loop."""

    async def go():
        return await read(_reader(raw))

    return asyncio.run(go())


def test_response_framings():
    """Content-Length, chunked (with extensions and trailers), until close, and no body for HEAD/204/304."""

    async def go():
        length = await http.read_response(_reader(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA"))
        chunked = await http.read_response(
            _reader(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
            )
        )
        closed = await http.read_response(_reader(b"HTTP/1.0 200 OK\r\n\r\nuntil the end"))
        head = await http.read_response(_reader(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"), method="HEAD")
        interim = await http.read_response(_reader(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"))
        return length, chunked, closed, head, interim

    length, chunked, closed, head, interim = run(go())
    assert (length.status, length.body) == (200, b"abc")
    assert chunked.body == b"abcde"
    assert (closed.version, closed.body) == ("HTTP/1.0", b"until the end")
    assert head.body == b"" and head.header("content-length") == "99"
    assert (interim.status, interim.body) == (204, b"")


@pytest.mark.parametrize(
    "raw",
    [
        b"this is not HTTP\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: no\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_responses_are_refused(raw):
    """Each of these is not a valid HTTP/1.1 response: Malformed (the ALB answers 502)."""
    with pytest.raises(http.Malformed):
        parse(http.read_response, raw)


def test_truncated_response_is_malformed():
    """The target closes mid-body: Malformed (the ALB answers 502)."""
    with pytest.raises(http.Malformed):
        parse(http.read_response, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")


def serve(sent: bytes, answers: int) -> tuple[list, bytes]:
    """``sent`` written by a client on a real socket pair; the ALB's side reads up to ``answers`` requests,
    answering each 200 ``ok``. Returns what it read (Request, or the Malformed) and the bytes the client got."""

    async def go():
        ours, theirs = socket.socketpair()
        with theirs:
            theirs.sendall(sent)
            theirs.shutdown(socket.SHUT_WR)
            reader, writer = await asyncio.open_connection(sock=ours)
            conn, seen = http.ClientConnection(reader, writer), []
            for _ in range(answers):
                try:
                    request = await conn.next_request()
                except http.Malformed as exc:
                    seen.append(exc)
                    await conn.send(http.Answer.error(exc.status), keep_alive=False)
                    break
                if request is None:
                    break
                seen.append(request)
                if not await conn.send(http.Answer(200, [], b"ok"), keep_alive=request.keep_alive):
                    break
            writer.close()
            await writer.wait_closed()
            theirs.settimeout(5)
            received = b""
            while chunk := theirs.recv(65536):
                received += chunk
            return seen, received

    return asyncio.run(go())


def test_requests_pipelined_with_chunked_body_and_keep_alive_rules():
    """Two requests sent at once; a chunked body is read whole; a stray CRLF between them is skipped (RFC 9112
    2.2); HTTP/1.0 closes unless keep-alive; both are answered, in order."""
    seen, received = serve(
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n"
        b"\r\nGET /b?q=1 HTTP/1.0\r\nHost: x\r\n\r\n",
        answers=3,
    )
    first, second = seen
    assert (first.method, first.path, first.body, first.keep_alive) == ("POST", "/a", b"body", True)
    assert (second.path, second.query, second.keep_alive) == ("/b", "q=1", False)
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 2 and received.endswith(b"ok")
    assert b"Connection: keep-alive" in received and b"Connection: close" in received


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 400),  # beyond 64K for the whole header
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 17000 + b"\r\n\r\n", 400),  # one header over 16K
        (b"GET /" + b"a" * 17000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # request line over 16K
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 400),
        (b"this is not HTTP\r\n\r\n", 400),
    ],
)
def test_refused_requests_get_the_albs_status_and_the_connection_closes(raw, status):
    """What AWS documents as 400 (malformed; over 16K per request line or header, 64K in all) and 501
    (a Transfer-Encoding other than chunked); Content-Length with Transfer-Encoding is refused, not guessed.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html#http-headers-quotas
    """
    seen, received = serve(raw, answers=2)
    assert len(seen) == 1 and isinstance(seen[0], http.Malformed), seen
    assert received.startswith(f"HTTP/1.1 {status} ".encode()), received[:80]
    assert b"Connection: close" in received and b"Server: awselb/2.0" in received


def test_expect_100_continue_is_told_to_go_on_before_the_body():
    """curl sends ``Expect: 100-continue`` and waits before a large body: the ALB says 100 Continue first."""

    async def go():
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        theirs.setblocking(False)
        with theirs:
            reader, writer = await asyncio.open_connection(sock=ours)
            conn = http.ClientConnection(reader, writer)
            await loop.sock_sendall(
                theirs, b"PUT /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
            )
            reading = asyncio.ensure_future(conn.next_request())
            interim = await asyncio.wait_for(loop.sock_recv(theirs, 1024), 5)
            await loop.sock_sendall(theirs, b"hi")
            request = await asyncio.wait_for(reading, 5)
            writer.close()
            return interim, request

    interim, request = asyncio.run(go())
    assert interim.startswith(b"HTTP/1.1 100 ") and request.body == b"hi"


UTF8 = "café".encode()  # bytes over 0x7F: obs-text, which a field value may hold (RFC 9110 section 5.5)


def target_exchange(on_socket: bool, answer: bytes) -> tuple:
    """One request through ``exchange`` (streams) or ``exchange_on`` (a bare socket) to a target on a real
    socket pair that answers ``answer``; the target's view of the request and the parsed response."""

    async def go():
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        with theirs:
            theirs.sendall(answer)
            theirs.shutdown(socket.SHUT_WR)
            headers = [("Host", "t"), ("X-Name", UTF8.decode("latin-1")), ("Connection", "close")]
            if on_socket:
                with ours:
                    response = await http.exchange_on(ours, "GET", "/p?q=1", headers)
            else:
                reader, writer = await asyncio.open_connection(sock=ours)
                response = await http.exchange(reader, writer, "GET", "/p?q=1", headers)
                writer.close()
            theirs.settimeout(5)
            sent = await loop.run_in_executor(None, theirs.recv, 65536)
            return sent, response

    return asyncio.run(go())


@pytest.mark.parametrize("on_socket", [False, True], ids=["streams", "socket"])
def test_target_exchange_passes_field_values_byte_for_byte(on_socket):
    """The forwarder's two ways to a target (streams for HTTPS targets and health checks, a bare socket for
    HTTP targets) send the same request and read the same response; a value with bytes over 0x7F (a client's
    UTF-8) reaches the target as sent and comes back as the target sent it (h11 would encode a str as ASCII)."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Back: " + UTF8 + b"\r\n\r\nok"
    sent, response = target_exchange(on_socket, answer)
    assert sent.startswith(b"GET /p?q=1 HTTP/1.1\r\n") and b"X-Name: " + UTF8 + b"\r\n" in sent
    assert (response.status, response.body, response.header("X-Back")) == (200, b"ok", UTF8.decode("latin-1"))
    with pytest.raises(http.Malformed):  # cut short: the ALB answers 502
        target_exchange(on_socket, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok")


def test_client_request_and_answer_keep_bytes_over_0x7f():
    """A client's header value in UTF-8 is read as sent; an answer carrying one is written byte for byte."""

    async def go():
        ours, theirs = socket.socketpair()
        with theirs:
            theirs.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Name: " + UTF8 + b"\r\n\r\n")
            theirs.shutdown(socket.SHUT_WR)
            reader, writer = await asyncio.open_connection(sock=ours)
            conn = http.ClientConnection(reader, writer)
            request = await conn.next_request()
            await conn.send(http.Answer(200, [("X-Back", request.header("X-Name"))], b"ok"), keep_alive=False)
            writer.close()
            theirs.settimeout(5)
            return request, theirs.recv(65536)

    request, received = asyncio.run(go())
    assert request.header("X-Name") == UTF8.decode("latin-1")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and b"X-Back: " + UTF8 + b"\r\n" in received


@pytest.mark.parametrize(
    ("pattern", "value", "case", "expected"),
    [
        ("/api/*", "/api/v1/x", True, True),
        ("/api/*", "/API/v1/x", True, False),
        ("/img/?.png", "/img/a.png", True, True),
        ("/img/?.png", "/img/ab.png", True, False),
        ("*.example.com", "WWW.Example.COM", False, True),
        ("/a.b", "/aXb", True, False),  # '.' is literal
    ],
)
def test_rule_wildcards(pattern, value, case, expected):
    """* any characters, ? exactly one; paths case-sensitive, hosts not.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html
    """
    assert router.match_pattern(pattern, value, case=case) is expected


def test_http2_stream_becomes_one_request_with_host_and_one_cookie():
    """An HTTP/2 client (the h2 library's client side, on a real socket pair): its stream reaches the ALB as one
    request, ``:authority`` as Host and split Cookie fields joined as HTTP/1.1 has them (RFC 9113 8.2.3), and
    the answer comes back on the stream."""

    async def handle(request):
        seen = (
            f"{request.method} {request.target} {request.version} {request.header('Host')} {request.header('Cookie')}"
        )
        return http.Answer(200, [("Content-Type", "text/plain")], seen.encode())

    async def go():
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        theirs.setblocking(False)
        with theirs:
            reader, writer = await asyncio.open_connection(sock=ours)
            serving = asyncio.ensure_future(http2.Http2Connection(reader, writer, handle).run(10))
            client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            client.initiate_connection()
            headers = [(":method", "GET"), (":path", "/p?q=1"), (":scheme", "https"), (":authority", "app.example")]
            client.send_headers(1, [*headers, ("cookie", "a=1"), ("cookie", "b=2")], end_stream=True)
            await loop.sock_sendall(theirs, client.data_to_send())
            status, body = None, b""
            for _ in range(20):  # bounded: a handful of frames make the answer
                data = await asyncio.wait_for(loop.sock_recv(theirs, 65536), 5)
                for event in client.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        status = dict(event.headers)[b":status"]
                    elif isinstance(event, h2.events.DataReceived):
                        body += event.data
                        client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        serving.cancel()
                        writer.close()
                        return status, body
                await loop.sock_sendall(theirs, client.data_to_send())
            raise AssertionError("no complete answer within 20 reads")

    status, body = asyncio.run(go())
    assert status == b"200"
    assert body == b"GET /p?q=1 HTTP/2 app.example a=1; b=2"
