"""HTTP/2 to the clients of an HTTPS listener, on the h2 library (https://python-hyper.org/projects/h2/).

An ALB's HTTPS listener offers HTTP/2 with ALPN ("h2", then "http/1.1") and, with a target group's
default protocol version HTTP1, sends each request on to its target as HTTP/1.1
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html,
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#target-group-protocol-version).

``Http2Connection(reader, writer, handle).run(idle_timeout)``: each stream's request, once its body
has ended, becomes a ``Request`` (version "HTTP/2"; ``:authority`` as its Host) answered by
``handle(request)`` in a task of its own, so the streams of one connection go on side by side; the
answer's body is sent as the stream's and the connection's flow-control windows allow.
"""

from __future__ import annotations

import asyncio
import email.utils

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from .http import MAX_BODY, NOT_PASSED_ON, Answer, Request

ALPN = ["h2", "http/1.1"]  # what an HTTPS listener offers, in its order of preference
READ_SIZE = 65536


class Http2Connection:
    """One client's HTTP/2 connection; ``handle(request) -> Answer`` (a coroutine) answers each stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handle):
        self.reader, self.writer, self.handle = reader, writer, handle
        config = h2.config.H2Configuration(client_side=False, header_encoding="latin-1")
        self.h2 = h2.connection.H2Connection(config=config)
        self.streams: dict[int, tuple[list[tuple[str, str]], bytearray]] = {}
        self.tasks: dict[int, asyncio.Task] = {}
        self.window_opened = asyncio.Event()

    async def run(self, idle_timeout: float) -> None:
        """Serve the connection until the client ends it, breaks the protocol, or is idle ``idle_timeout``."""
        self.h2.initiate_connection()
        await self._flush()
        try:
            while True:
                try:
                    timeout = None if self.tasks else idle_timeout  # idle: no request under way
                    async with asyncio.timeout(timeout):  # per read: no task, as wait_for makes
                        data = await self.reader.read(READ_SIZE)
                except TimeoutError:
                    self.h2.close_connection()
                    break
                if not data:
                    break
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError:
                    break  # h2 has queued the GOAWAY that says why
                if not self._dispatch(events):
                    break
                await self._flush()
            await self._flush()
        finally:
            for task in self.tasks.values():
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    def _dispatch(self, events) -> bool:
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.streams[event.stream_id] = (list(event.headers), bytearray())
            elif isinstance(event, h2.events.DataReceived):
                body = self.streams.get(event.stream_id, ([], bytearray()))[1]
                body += event.data
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if len(body) > MAX_BODY:
                    self.h2.reset_stream(event.stream_id)
                    self.streams.pop(event.stream_id, None)
            elif isinstance(event, h2.events.WindowUpdated):
                self.window_opened.set()
            elif isinstance(event, h2.events.StreamReset):
                self.streams.pop(event.stream_id, None)
                task = self.tasks.pop(event.stream_id, None)
                if task:
                    task.cancel()
            elif isinstance(event, h2.events.ConnectionTerminated):
                return False
            if getattr(event, "stream_ended", None) is not None and event.stream_id in self.streams:
                self._start(event.stream_id)
        return True

    def _start(self, stream_id: int) -> None:
        headers, body = self.streams.pop(stream_id)
        pseudo = {k: v for k, v in headers if k.startswith(":")}
        regular = [(k, v) for k, v in headers if not k.startswith(":") and k != "cookie"]
        cookies = [v for k, v in headers if k == "cookie"]
        if cookies:  # HTTP/2 may split Cookie in several fields; HTTP/1.1 has one (RFC 9113 8.2.3)
            regular.append(("cookie", "; ".join(cookies)))
        if ":authority" in pseudo and not any(k == "host" for k, _ in regular):
            regular.insert(0, ("host", pseudo[":authority"]))
        request = Request(pseudo.get(":method", "GET"), pseudo.get(":path", "/"), "HTTP/2", regular, bytes(body))
        task = asyncio.ensure_future(self._answer(stream_id, request))
        self.tasks[stream_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(stream_id, None))

    async def _answer(self, stream_id: int, request: Request) -> None:
        try:
            await self._send(stream_id, await self.handle(request), request.method)
        except (ConnectionError, h2.exceptions.StreamClosedError):
            pass  # the client went away, or reset the stream

    async def _send(self, stream_id: int, answer: Answer, method: str) -> None:
        headers = [(":status", str(answer.status))]
        headers += [(k.lower(), v) for k, v in answer.headers if k.lower() not in NOT_PASSED_ON]
        if not any(k == "date" for k, _ in headers):
            headers.insert(1, ("date", email.utils.formatdate(usegmt=True)))
        bodiless = method == "HEAD" or answer.status in (204, 304)
        length = answer.header("content-length") if method == "HEAD" else str(len(answer.body))
        if length is not None and answer.status not in (204, 304):
            headers.append(("content-length", length))
        body = b"" if bodiless else answer.body
        self.h2.send_headers(stream_id, headers, end_stream=not body)
        await self._flush()
        while body:
            window = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
            if window <= 0:
                self.window_opened.clear()
                await self.window_opened.wait()  # the read loop sets it on the client's WINDOW_UPDATE
                continue
            chunk, body = body[:window], body[window:]
            self.h2.send_data(stream_id, chunk, end_stream=not body)
            await self._flush()

    async def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()
