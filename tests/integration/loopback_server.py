"""Serve an ASGI app with uvicorn in a background thread on a free 127.0.0.1 port (test servers)."""

from __future__ import annotations

import threading
from typing import Any

import uvicorn

from tests.integration.helpers import loopback_socket, wait_until


class LoopbackServer:
    def __init__(self, app: Any, name: str, graceful_shutdown_seconds: int | None = None) -> None:
        self._app = app
        self._name = name
        self._graceful = graceful_shutdown_seconds
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        sock = loopback_socket()  # bound here and handed to uvicorn: no other process can take the port meanwhile
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=self._graceful
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        server, thread = self._server, self._thread

        def started() -> bool:
            if not thread.is_alive():
                raise RuntimeError(f"{self._name} stopped before it started")
            return server.started

        wait_until(started, 10, f"{self._name} starting", interval=0.005)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
