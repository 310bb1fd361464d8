"""The shared test helpers fail when they should: a helper that always passes would hide a broken test."""

from __future__ import annotations

import itertools
import socket

import pytest

from tests.integration.helpers import assert_stays, await_until, free_port, sse_events, wait_until


def test_wait_until_returns_the_first_truthy_value_and_times_out_otherwise() -> None:
    counter = itertools.count()
    assert wait_until(lambda: next(counter) >= 2 and "ready", 5, "counting", interval=0.001) == "ready"
    with pytest.raises(TimeoutError, match=r"never: not within 0\.05s"):
        wait_until(lambda: False, 0.05, "never", interval=0.01)


async def test_await_until_returns_the_first_truthy_value_and_times_out_otherwise() -> None:
    counter = itertools.count()

    async def counted() -> int:
        return max(next(counter) - 1, 0)

    assert await await_until(counted, 5, "counting", interval=0.001) == 1

    async def never() -> bool:
        return False

    with pytest.raises(TimeoutError, match=r"never: not within 0\.05s"):
        await await_until(never, 0.05, "never", interval=0.01)


def test_assert_stays_fails_as_soon_as_the_condition_breaks() -> None:
    counter = itertools.count()
    assert_stays(lambda: True, 0.05, "holds", interval=0.01)
    with pytest.raises(AssertionError, match="broke"):
        assert_stays(lambda: next(counter) < 3, 5, "broke", interval=0.001)


def test_sse_events_reads_names_and_json_data() -> None:
    body = 'event: token\ndata: {"text": "a"}\n\n: a comment\n\ndata: {"n": 1}\r\n\r\nevent: done\ndata:{}\n\n'
    assert sse_events(body) == [("token", {"text": "a"}), ("message", {"n": 1}), ("done", {})]


def test_free_port_can_be_listened_on() -> None:
    with socket.create_server(("127.0.0.1", free_port())) as server:
        assert server.getsockname()[1] > 0
