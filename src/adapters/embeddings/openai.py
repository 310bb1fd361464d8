"""OpenAIEmbedder: embeddings from an OpenAI-compatible API through langchain-openai."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from langchain_openai import OpenAIEmbeddings

from adapters.openai_client import client_options
from adapters.openai_errors import translate_openai_error
from application.ports.embeddings import Embedder


class OpenAIEmbedder(Embedder):
    def __init__(
        self, model: str, api_key: str | None, base_url: str | None, http_client: httpx.AsyncClient, timeout: float = 60
    ) -> None:
        self._model = model
        # check_embedding_ctx_length=False: otherwise langchain tokenizes with tiktoken, which
        # downloads its encodings at run time. Chunks are already sized for embedding.
        self._client = OpenAIEmbeddings(
            **client_options(model, api_key, base_url, http_client, timeout),
            check_embedding_ctx_length=False,
            max_retries=3,
        )

    @property
    def name(self) -> str:
        return f"openai-{self._model}"

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            return await self._client.aembed_documents(list(texts))
        except Exception as e:
            raise translate_openai_error(e, "embedding") from e

    async def embed_query(self, text: str) -> list[float]:
        try:
            return await self._client.aembed_query(text)
        except Exception as e:
            raise translate_openai_error(e, "embedding") from e
