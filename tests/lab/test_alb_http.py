"""The minimal HTTP/1.1 reader of the lab's load balancer (health.read_response, alb.read_request).

What the ALB treats as a malformed target response answers 502
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-502-issues);
framing as RFC 9112 defines it (Content-Length, chunked, until close).
"""

from __future__ import annotations

import asyncio

import pytest

from helpers.lab.alb import health
from helpers.lab.alb import node as alb


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
        length = await health.read_response(_reader(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA"))
        chunked = await health.read_response(
            _reader(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
            )
        )
        closed = await health.read_response(_reader(b"HTTP/1.0 200 OK\r\n\r\nuntil the end"))
        head = await health.read_response(_reader(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"), method="HEAD")
        interim = await health.read_response(_reader(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"))
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
    with pytest.raises(health.Malformed):
        parse(health.read_response, raw)


def test_truncated_response_is_an_incomplete_read():
    """The target closes mid-body: IncompleteReadError (the ALB answers 502)."""
    with pytest.raises(asyncio.IncompleteReadError):
        parse(health.read_response, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")


def test_requests_pipelined_with_chunked_body_and_keep_alive_rules():
    """Two requests on one connection; a chunked body is read whole; HTTP/1.0 closes unless keep-alive."""

    async def go():
        reader = _reader(
            b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n"
            b"\r\nGET /b?q=1 HTTP/1.0\r\nHost: x\r\n\r\n"
        )
        return await alb.read_request(reader), await alb.read_request(reader)

    first, second = run(go())
    assert (first.method, first.path, first.body, first.keep_alive) == ("POST", "/a", b"body", True)
    assert (second.path, second.query, second.keep_alive) == ("/b", "q=1", False)


def test_head_too_large_is_malformed():
    """A request head beyond the reader's limit (64 KiB) is refused, not buffered without end."""
    with pytest.raises(health.Malformed):
        parse(alb.read_request, b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n")


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
    assert alb.match_pattern(pattern, value, case=case) is expected
