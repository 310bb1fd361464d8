"""BoundedHttpProtocol on a recording transport: an answer the client does not read is cut off in time."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from entrypoints.http.protocol import BoundedHttpProtocol


class RecordingTransport(asyncio.Transport):
    """A socket whose client reads only when told (`client_reads`): past HIGH_WATER bytes unread it pauses
    the protocol's writing, as asyncio's transports do. Records whether the protocol closed or dropped it."""

    HIGH_WATER = 256 * 1024

    def __init__(self) -> None:
        super().__init__()
        self.protocol: asyncio.Protocol | None = None
        self.unread = self.written = 0
        self.closed = self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        paused = self.unread > self.HIGH_WATER
        self.unread += len(data)
        self.written += len(data)
        if not paused and self.unread > self.HIGH_WATER and self.protocol is not None:
            self.protocol.pause_writing()

    def client_reads(self) -> None:
        if self.unread > self.HIGH_WATER and self.protocol is not None:
            self.protocol.resume_writing()
        self.unread = 0

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        """The protocol may pause reading: nothing is read here anyway."""

    def resume_reading(self) -> None:
        """Nor resumed."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


class QuickToGiveUp(BoundedHttpProtocol):
    write_seconds = 0.05


async def long_answer(_scope: Any, _receive: Any, send: Any) -> None:
    """64 MB, a piece at a time (a send to a client that is gone returns at once: each piece yields)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for _ in range(1024):
        await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
        await asyncio.sleep(0)
    await send({"type": "http.response.body", "body": b""})


def connected(protocol_class: type[BoundedHttpProtocol]) -> tuple[BoundedHttpProtocol, RecordingTransport]:
    config = uvicorn.Config(long_answer, http=protocol_class, log_level="critical")
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    transport.protocol = protocol
    protocol.connection_made(transport)
    return protocol, transport


async def test_an_answer_the_client_stops_reading_is_dropped_after_write_seconds() -> None:
    protocol, transport = connected(QuickToGiveUp)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

    await asyncio.sleep(0.2)

    assert transport.aborted and transport.written > RecordingTransport.HIGH_WATER
    protocol.connection_lost(None)


async def test_an_answer_the_client_reads_on_is_not_dropped() -> None:
    protocol, transport = connected(QuickToGiveUp)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    for _ in range(10):  # 0.3 s in all, never 0.05 s without reading
        await asyncio.sleep(0.03)
        transport.client_reads()

    assert not transport.closed and transport.written > 10 * RecordingTransport.HIGH_WATER
    transport.close()
    protocol.connection_lost(None)
