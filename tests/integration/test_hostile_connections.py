"""Connections that send an endless or a slow request cannot stall `repochat serve` nor stay open.

Raw sockets on loopback against the real server: a head over MAX_HEAD_BYTES is answered 431 as soon as
it passes the limit (uvicorn alone read a 64 MB header whole, 5 s of its event loop), and a head not
whole within HEAD_SECONDS is answered 408, the connection closed either way. A body that stops arriving
is a 408 too, and slow senders of unsigned webhook deliveries cannot shut out a signed one.
"""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from domain.webhooks import signature_of
from entrypoints.http.errors import BODY_IDLE_SECONDS
from entrypoints.http.protocol import HEAD_SECONDS, MAX_HEAD_BYTES, MAX_PIPELINED
from entrypoints.http.routers.webhooks import READ_SECONDS, READS_AT_ONCE
from tests.integration.helpers import ApiServer, ServeFactory

ENDLESS_BYTES = 64 * 1024 * 1024
PIECE = 1024 * 1024


def cpu_seconds(server: ApiServer) -> float:
    fields = open(f"/proc/{server.process.pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connect(server: ApiServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=HEAD_SECONDS + 10)


def send_endless(sock: socket.socket, start: bytes, filler: bytes) -> None:
    """`start`, then ENDLESS_BYTES of `filler`, until the server stops listening."""
    try:
        sock.sendall(start)
        for _ in range(ENDLESS_BYTES // PIECE):
            sock.sendall(filler * (PIECE // len(filler)))
    except (BrokenPipeError, ConnectionResetError):
        pass


def answer(sock: socket.socket) -> bytes:
    """What the server sent before closing the connection."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


@pytest.mark.parametrize(
    ("start", "filler"),
    [(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", b"a"), (b"GET /healthz?a=", b"b"),
     (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-n: yyyyyyyy\r\n")],
    ids=["one long header", "a long URL", "many headers"],
)  # fmt: skip
def test_an_endless_head_is_refused_431_once_it_passes_the_limit(
    serve: ServeFactory, start: bytes, filler: bytes
) -> None:
    received, _ = endless(serve(), start, filler)

    assert received.startswith(b"HTTP/1.1 431 "), received[:200]
    assert str(MAX_HEAD_BYTES).encode() in received


def endless(server: ApiServer, start: bytes, filler: bytes) -> tuple[bytes, float]:
    """What the server answered `send_endless` with, and in how many seconds it closed the connection; the
    server must have spent under a second of CPU on it, and answer /healthz after."""
    before, started = cpu_seconds(server), time.monotonic()
    with connect(server) as sock:
        send_endless(sock, start, filler)
        received = answer(sock)
    waited = time.monotonic() - started
    assert cpu_seconds(server) - before < 1.0, "the server read far more than the limit"
    assert server.client.get("/healthz").status_code == 200
    return received, waited


def test_a_head_under_the_limit_followed_by_a_large_body_in_one_write_is_a_request(serve: ServeFactory) -> None:
    server = serve()
    body = b'{"query": "' + b"x" * (MAX_HEAD_BYTES * 8) + b'"}'
    with connect(server) as sock:
        sock.sendall(b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
        response = b""
        while b"REPOCHAT_MAX_QUESTION_BYTES" not in response:
            response += sock.recv(65536)

    assert response.startswith(b"HTTP/1.1 400 "), response[:200]


def test_pipelined_requests_over_the_head_limit_in_one_write_are_each_answered(serve: ServeFactory) -> None:
    server = serve()
    pad = b"p" * (2 * MAX_HEAD_BYTES // MAX_PIPELINED)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + pad + b"\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(request * MAX_PIPELINED)
        received = b""
        while received.count(b'{"status":"ok"}') < MAX_PIPELINED and b" 431 " not in received:
            received += sock.recv(65536)

    assert received.count(b"HTTP/1.1 200 ") == MAX_PIPELINED and b" 431 " not in received


def test_a_client_that_pipelines_far_ahead_of_its_answers_is_cut_off(serve: ServeFactory) -> None:
    """20 such connections held 17 MB each, for as long as their client stayed."""
    server = serve()
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * (10 * MAX_PIPELINED))
        started = time.monotonic()
        received = answer(sock)

    assert received.count(b"HTTP/1.1 200 ") <= MAX_PIPELINED + 1
    assert time.monotonic() - started < 5


def test_a_client_gone_while_its_pipelined_answers_wait_is_no_error_of_the_server(serve: ServeFactory) -> None:
    """uvicorn marked only the request parsed last as gone: each answer being written logged a traceback."""
    server = serve()
    for count in (MAX_PIPELINED - 2, 50, 100):
        with connect(server) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * count)
            time.sleep(2)
        time.sleep(1)

    assert server.client.get("/healthz").status_code == 200
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-4000:]


@pytest.mark.parametrize(
    ("trailer", "filler"), [(b"", b"x-t: " + b"v" * 40 + b"\r\n"), (b"x-long: ", b"a")], ids=["many", "one long"]
)
def test_endless_trailers_of_a_chunked_body_close_the_connection(
    serve: ServeFactory, trailer: bytes, filler: bytes
) -> None:
    """A chunked body's trailers come after its head: 440 MB of them grew the server to 1.4 GB."""
    start = b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n"
    _, waited = endless(serve(), start + trailer, filler)

    assert waited < HEAD_SECONDS / 2, waited


def test_a_connection_whose_head_is_not_whole_in_time_is_answered_408_and_closed(serve: ServeFactory) -> None:
    server = serve()
    with connect(server) as idle, connect(server) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        time.sleep(1)
        slow.sendall(b"X-Slow: 1\r\n")  # bytes that trickle in do not put the deadline off
        received = answer(slow), answer(idle)
        waited = time.monotonic() - started

    assert all(r.startswith(b"HTTP/1.1 408 ") for r in received), received
    assert HEAD_SECONDS - 1 <= waited < HEAD_SECONDS + 5, waited
    with connect(server) as kept_alive:  # a whole request on time is answered, and the next one too
        for _ in range(2):
            kept_alive.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            response = b""
            while not response.endswith(b'{"status":"ok"}'):
                response += kept_alive.recv(65536)
            assert response.startswith(b"HTTP/1.1 200 ")


def test_a_body_that_stops_arriving_is_answered_408(serve: ServeFactory) -> None:
    server = serve()
    with connect(server) as sock:
        head = b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        sock.sendall(head + b"content-length: 100\r\n\r\n" + b'{"query": "')
        started = time.monotonic()
        received = answer(sock)
        waited = time.monotonic() - started

    assert received.startswith(b"HTTP/1.1 408 ") and b"request_timeout" in received, received
    assert BODY_IDLE_SECONDS - 1 <= waited < BODY_IDLE_SECONDS + 5, waited


def test_slow_unsigned_deliveries_cannot_shut_out_a_signed_one(serve: ServeFactory) -> None:
    secret = "s3cret"
    server = serve(REPOCHAT_GITHUB_WEBHOOK_SECRET=secret)
    head = (b"POST /v1/webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nX-GitHub-Event: push\r\n"
            b"X-Hub-Signature-256: sha256=00\r\ncontent-length: 1001\r\n\r\n")  # fmt: skip
    slow = [connect(server) for _ in range(READS_AT_ONCE)]
    try:
        for sock in slow:
            sock.sendall(head + b"x" * 1000)
        time.sleep(0.5)
        ping = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
        started = time.monotonic()
        response = server.client.post("/v1/webhooks/github", content=ping, headers={
            "X-GitHub-Event": "ping", "X-Hub-Signature-256": signature_of(secret, ping),
            "content-type": "application/json"})  # fmt: skip
        waited = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert waited < READ_SECONDS + 2, waited
        assert all(answer(sock).startswith(b"HTTP/1.1 408 ") for sock in slow)
    finally:
        for sock in slow:
            sock.close()


def test_the_rest_of_a_body_nobody_reads_cannot_hold_the_connection_open(serve: ServeFactory) -> None:
    server = serve()
    with connect(server) as sock:
        sock.sendall(b"POST /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: 1000\r\n\r\n")
        started = time.monotonic()
        response = sock.recv(65536)
        try:
            while time.monotonic() - started < HEAD_SECONDS + 10:
                sock.sendall(b"x")  # a byte a second: the answer is sent, nothing reads the rest
                time.sleep(1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        waited = time.monotonic() - started

    assert response.startswith(b"HTTP/1.1 404 "), response
    assert waited < HEAD_SECONDS + 3, waited


def test_a_chunked_body_over_the_limit_to_mcp_is_a_413_in_the_error_shape(serve: ServeFactory) -> None:
    """The MCP server reads its bodies inside its own app: the body limit's 413 must not come out as text."""
    server = serve()
    with connect(server) as sock:
        sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                     b"accept: application/json, text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")  # fmt: skip
        piece = b"x" * 65536
        send_endless(sock, b"", b"%x\r\n%s\r\n" % (len(piece), piece))
        received = answer(sock)

    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ") and b"application/json" in head, received[:300]
    assert json.loads(body)["error"]["code"] == "request_too_large"
