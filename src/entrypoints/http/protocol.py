"""The HTTP/1.1 connection of `repochat serve`: uvicorn's httptools protocol, with what a client sends and
how fast it reads bounded.

uvicorn bounds neither the size of a request line and its headers (nor a chunked body's trailers) nor the
time a client takes to send them or to read the answer, and httptools joins a long header (uvicorn a long
URL) by repeated concatenation: one connection sending a 64 MB header cost 5 s of the event loop, another
held 400 MB of trailers, a connection that sends half a head stays open for good, and one that pipelines
thousands of requests and reads none of the answers held 17 MB and its socket for good. Here:

- a head over MAX_HEAD_BYTES is answered 431, one not whole within HEAD_SECONDS 408 (before the app sees
  either); a body's framing (chunk sizes, extensions, trailers) over MAX_HEAD_BYTES closes the connection;
- the rest of a body the app answered without reading (a 404, a 401) must arrive within HEAD_SECONDS;
- more than MAX_PIPELINED requests waiting behind an answer close the connection, and so does an answer
  the client has not read for WRITE_SECONDS.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

MAX_HEAD_BYTES = 64 * 1024
"""A request line and its headers: browsers and HTTP clients send a few KB (nginx's default cap is 32 KB)."""
HEAD_SECONDS = 10.0
"""From a connection's opening, or the first byte of a request on a kept-alive one, to the end of its head."""
MAX_PIPELINED = 32
"""Requests a client may send ahead of the answers it waits for (browsers and HTTP clients send none)."""
WRITE_SECONDS = 30.0
"""How long an answer may wait for the client to read it once the socket's buffers are full."""


class BoundedHttpProtocol(HttpToolsProtocol):
    write_seconds = WRITE_SECONDS
    _head_bytes = 0
    _in_head = True
    _requests = 0
    """Requests whose message is whole, so far: a piece of data that completed one is no overlong head."""
    _framing_bytes = 0
    """Of the current request's bytes after its head, those that were no body: chunk framing and trailers."""
    _head_deadline: asyncio.TimerHandle | None = None
    _write_deadline: asyncio.TimerHandle | None = None
    _running: RequestResponseCycle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn marks only the request parsed last as gone: the one whose answer is being written (and
        those queued behind it) would write to a closed transport, and log a traceback each."""
        self._disarm_head_deadline()
        self._disarm_write_deadline()
        for cycle in [self._running, *(cycle for cycle, _ in self.pipeline)]:
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feeds the parser no more of a head than its room: a piece that ends a request goes on with the next
        (pipelined requests), one that leaves the same head open is refused."""
        while data and self._in_head and not self.transport.is_closing():
            self._arm_head_deadline()
            room, requests = MAX_HEAD_BYTES - self._head_bytes, self._requests
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            super().data_received(piece)
            if len(self.pipeline) > MAX_PIPELINED:
                self.transport.close()
                return
            if data and self._in_head and self._requests == requests and not self.transport.is_closing():
                self._refuse(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"the request head is over {MAX_HEAD_BYTES} bytes"
                )
                return
        if data and not self.transport.is_closing():
            self._framing_bytes += len(data)  # on_body takes the body's share back out
            super().data_received(data)
            if self._framing_bytes > MAX_HEAD_BYTES and not self._in_head:
                self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head, self._framing_bytes = False, 0
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._framing_bytes -= len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes, self._requests = True, 0, self._requests + 1
        self._disarm_head_deadline()
        if self.cycle is not None and self.cycle.response_complete:  # answered early: the next head, or idle
            self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._in_head:  # the body is still arriving, and nothing will read it
            self._arm_head_deadline()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        self._running = cycle
        super()._start_asgi_task(cycle, app)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(self.write_seconds, self.transport.abort)  # close() would wait

    def resume_writing(self) -> None:
        self._disarm_write_deadline()
        super().resume_writing()

    def _disarm_write_deadline(self) -> None:
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(HTTPStatus.REQUEST_TIMEOUT, f"the request head took over {HEAD_SECONDS:.0f} s")
        elif self.cycle is not None and self.cycle.response_complete:
            self.transport.close()

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        """Answers `status` and closes; only closes while an earlier request's answer is still being sent."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()
            return
        body = message.encode()
        self.transport.write(
            f"HTTP/1.1 {status.value} {status.phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        self.transport.close()
