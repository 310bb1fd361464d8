"""What both OpenAI adapters tell their langchain-openai client alike."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr


def client_options(
    model: str, api_key: str | None, base_url: str | None, http_client: httpx.AsyncClient, timeout: float
) -> dict[str, Any]:
    """The keyword arguments `ChatOpenAI` and `OpenAIEmbeddings` share: the model, the key (none: the
    client reads OPENAI_API_KEY), the endpoint, and our own HTTP client, which the container opens
    and closes (langchain's default is cached process-wide and breaks on a second event loop)."""
    return {
        "model": model,
        "api_key": SecretStr(api_key) if api_key else None,
        "base_url": base_url,
        "http_async_client": http_client,
        "timeout": timeout,
    }
