"""Large bodies from callers without a key or a signature cannot grow `repochat serve`'s memory.

Fifty concurrent 26 MB bodies, sent chunked (no Content-Length, so the server cannot refuse them
from their headers), to the webhook route with webhooks on and off and to a keyed /v1 route. The
server's resident memory, sampled throughout, must grow by less than 100 MB and come back down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.integration.helpers import ApiServer, ServeFactory

SENDERS = 50
PIECE = b"x" * (1024 * 1024)
PIECES = 26
MAX_GROWTH = 100 * 1024 * 1024


def rss(server: ApiServer) -> int:
    for line in open(f"/proc/{server.process.pid}/status"):  # noqa: SIM115
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def body() -> Iterator[bytes]:
    for _ in range(PIECES):
        yield PIECE


def send(url: str, headers: dict[str, str]) -> int:
    try:
        return httpx.post(url, content=body(), headers=headers, timeout=60).status_code
    except httpx.TransportError:
        return 0  # the server answered and closed before the whole body was sent


def attack(server: ApiServer, path: str, headers: dict[str, str]) -> tuple[int, int, list[int]]:
    """(peak growth, growth left afterwards, statuses) of SENDERS concurrent bodies to `path`."""
    baseline = rss(server)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss(server))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    with ThreadPoolExecutor(SENDERS) as pool:
        statuses = list(pool.map(lambda _: send(server.url + path, headers), range(SENDERS)))
    done.set()
    sampler.join()
    time.sleep(1)
    return peak - baseline, rss(server) - baseline, statuses


@pytest.mark.parametrize("webhooks", ["on", "off"])
def test_unsigned_deliveries_do_not_grow_memory(serve: ServeFactory, webhooks: str) -> None:
    secret = {"REPOCHAT_GITHUB_WEBHOOK_SECRET": "s3cret"} if webhooks == "on" else {}
    server = serve(**secret)
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64}
    peak, left, statuses = attack(server, "/v1/webhooks/github", headers)
    assert peak < MAX_GROWTH and left < MAX_GROWTH, (peak >> 20, left >> 20)
    refused = {413, 503, 0} if webhooks == "on" else {404, 0}
    assert set(statuses) <= refused, statuses
    assert server.client.get("/healthz").status_code == 200


def test_oversized_bodies_to_a_keyed_route_do_not_grow_memory(serve: ServeFactory) -> None:
    server = serve(REPOCHAT_API_KEYS="k1")
    peak, left, statuses = attack(server, "/v1/search", {"Content-Type": "application/json"})
    assert peak < MAX_GROWTH and left < MAX_GROWTH, (peak >> 20, left >> 20)
    assert set(statuses) <= {401, 0}, statuses  # refused before its body is read
