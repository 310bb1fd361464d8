"""Middleware: the body limit, declared or streamed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI


async def test_a_body_over_the_limit_is_a_413_declared_or_streamed(limited: FastAPI) -> None:
    body = json.dumps({"question": "x", "history": [{"role": "user", "content": "y" * 300}]}).encode()

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 50):
            yield body[start : start + 50]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://repochat") as http:
        declared = await http.post("/v1/ask", content=body, headers={"content-type": "application/json"})
        streamed = await http.post("/v1/ask", content=chunked(), headers={"content-type": "application/json"})

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"
        assert "REPOCHAT_MAX_BODY_BYTES" in response.json()["error"]["message"]
