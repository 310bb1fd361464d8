"""A fake OpenAI REST API on 127.0.0.1, for driving the real `openai` / langchain-openai clients.

`with FakeOpenAI() as fake:` runs a Starlette app under uvicorn in a background thread on a
free port; point a client at `fake.base_url` (`http://127.0.0.1:<port>/v1`). It answers in
OpenAI's documented shape:

- `POST /v1/chat/completions`  a `chat.completion` object, or with `stream: true` Server-Sent
  Events of `chat.completion.chunk` objects (a first chunk with the role, one chunk per token,
  a last chunk with `finish_reason`, a usage-only chunk when `stream_options.include_usage`)
  ending with `data: [DONE]`. The reply text is scripted (`fake.reply`, a string or a function
  of the request body), cut at the first of the request's `stop` sequences, and after
  `max_completion_tokens` (or `max_tokens`) tokens with finish_reason `length`.
- `POST /v1/embeddings`  one vector per input (a string, a list of strings, or token arrays),
  `encoding_format` `float` or `base64` (little-endian float32, what the `openai` client asks
  for by default), `dimensions` honoured. Vectors come from `embedding(text, dimensions)`: signed
  feature hashing of the words, normalised and exact in float32, so they are deterministic,
  identical in both encodings, and texts sharing words are close (retrieval is meaningful).
- anything else: 404 with OpenAI's error body.

With `api_key` set, a request without `Authorization: Bearer <api_key>` gets OpenAI's 401,
whose message quotes the key it was given (as OpenAI's does, here unmasked: the strictest
case for callers that must not echo upstream messages).

Every request is recorded (`fake.requests`: method, path, headers, parsed JSON body, time).
`fake.fail_next(n, fault, path=...)` makes the next n requests (to a path, or any) answer with
a fault: `unauthorized()`, `rate_limited(seconds)`, `server_error(status)`, `slow(seconds)`
(the normal answer after a delay, to trip client timeouts), or `broken_stream(after)` (a streamed
answer broken off after some tokens, with no finish_reason and no [DONE]).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import math
import re
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.integration.loopback_server import LoopbackServer

DEFAULT_REPLY = "Declare it with a default of None [1]."
_WORD = re.compile(r"[A-Za-z0-9_]+")
_TOKEN = re.compile(r"\s*\S+|\s+")


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _f32(x: float) -> float:
    value: float = struct.unpack("<f", struct.pack("<f", x))[0]
    return value


def embedding(text: str, dimensions: int = 16) -> list[float]:
    """The vector the fake returns for `text`: signed hashing of lowercase words, unit length, float32-exact."""
    vector = [0.0] * dimensions
    features = [w.lower() for w in _WORD.findall(text)] or [text]
    for feature in features:
        digest = hashlib.sha256(feature.encode()).digest()
        bucket = int.from_bytes(digest[:4], "little") % dimensions
        vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:  # words cancelled out: fall back to a hash of the whole text
        digest = hashlib.sha256(text.encode()).digest()
        vector = [((digest[i % len(digest)] / 255.0) * 2 - 1) or 0.5 for i in range(dimensions)]
        norm = math.sqrt(sum(v * v for v in vector))
    return [_f32(v / norm) for v in vector]


def tokens(text: str) -> list[str]:
    """How the fake splits a reply into stream chunks: each word with its leading whitespace."""
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class Fault:
    """An injected answer: an error status, or (status None) the normal answer after `delay` seconds."""

    status: int | None
    body: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    cut_after: int | None = None
    """A streamed answer stops after this many content chunks."""
    abrupt: bool = False
    """With cut_after: the connection drops mid-body instead of the body ending cleanly."""


def unauthorized(key: str = "") -> Fault:
    """OpenAI's 401; its message quotes `key` as OpenAI quotes the key it was sent."""
    message = f"Incorrect API key provided: {key}." if key else "Incorrect API key provided."
    return Fault(401, error_body(message, "invalid_request_error", "invalid_api_key"))


def rate_limited(seconds: float = 1.0) -> Fault:
    """429 with `retry-after` (whole seconds) and `retry-after-ms`, which the `openai` client prefers."""
    headers = {"retry-after": str(max(1, math.ceil(seconds))), "retry-after-ms": str(round(seconds * 1000))}
    body = error_body("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded")
    return Fault(429, body, headers)


def server_error(status: int = 500) -> Fault:
    return Fault(status, error_body("The server had an error while processing your request.", "server_error"))


def slow(seconds: float) -> Fault:
    return Fault(None, delay=seconds)


def broken_stream(after: int, abrupt: bool = False) -> Fault:
    """A streamed answer broken off after `after` content chunks, with no finish_reason and no [DONE]:
    the body ends cleanly (a proxy closing its side), or with `abrupt` the connection drops mid-body."""
    return Fault(None, cut_after=after, abrupt=abrupt)


def limited(text: str, body: dict[str, Any]) -> tuple[str, str]:
    """The reply as the request's `stop` and `max_completion_tokens` (or `max_tokens`) cut it, and its finish_reason."""
    stop = body.get("stop") or []
    for sequence in [stop] if isinstance(stop, str) else stop:
        text = text.split(sequence, 1)[0]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    pieces = tokens(text)
    if isinstance(limit, int) and len(pieces) > limit:
        return "".join(pieces[:limit]), "length"
    return text, "stop"


def chat_usage(messages: list[Any], text: str) -> dict[str, int]:
    """The usage the fake reports for a reply `text` to `messages`: words in, stream chunks out."""
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
    completion_tokens = len(tokens(text))
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    body: Any
    """The parsed JSON body (None when absent or not JSON)."""
    at: float
    """time.monotonic() when the request arrived."""
    status: int = 0


@dataclass
class _Injection:
    path: str | None
    faults: deque[Fault]


class FakeOpenAI:
    """The server; use as a context manager. Attributes may be changed between requests."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        reply: str | Callable[[dict[str, Any]], str] = DEFAULT_REPLY,
        dimensions: int = 16,
    ) -> None:
        self.api_key = api_key
        self.reply = reply
        self.dimensions = dimensions
        self.requests: list[Recorded] = []
        self._injections: list[_Injection] = []
        self._lock = threading.Lock()
        self._closing_event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "DELETE", "PUT"])])
        self._http = LoopbackServer(self.app, "fake OpenAI", graceful_shutdown_seconds=2)

    # -- lifecycle

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL / `base_url=` should be."""
        return self.url + "/v1"

    def embeddings_env(self) -> dict[str, str]:
        """The settings of a repochat that embeds through this server."""
        return {"REPOCHAT_EMBEDDINGS": "openai", "OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": "sk-test"}

    def __enter__(self) -> FakeOpenAI:
        self._http.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._loop is not None and self._closing_event is not None:
                self._loop.call_soon_threadsafe(self._closing_event.set)  # ends slow answers still waiting
        self._http.stop()

    # -- test controls

    def fail_next(self, n: int, fault: Fault, path: str | None = None) -> None:
        """Answer the next `n` requests (to `path`, e.g. "/v1/embeddings", or to any path) with `fault`."""
        with self._lock:
            self._injections.append(_Injection(path, deque([fault] * n)))

    def reset(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._lock:
            self.requests.clear()
            self._injections.clear()

    def to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def chat_requests(self) -> list[Recorded]:
        return self.to("/v1/chat/completions")

    @property
    def embedding_requests(self) -> list[Recorded]:
        return self.to("/v1/embeddings")

    # -- HTTP

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append(Recorded(request.method, request.url.path, headers, body, time.monotonic()))
            index = len(self.requests) - 1
        response = await self._answer(request, body)
        with self._lock:
            if index < len(self.requests):  # not reset meanwhile
                old = self.requests[index]
                self.requests[index] = Recorded(
                    old.method, old.path, old.headers, old.body, old.at, response.status_code
                )
        return response

    async def _answer(self, request: Request, body: Any) -> Response:
        path = request.url.path
        fault = self._next_fault(path)
        cut = fault if fault is not None and fault.cut_after is not None else None
        if fault is not None:
            if fault.delay:
                await self._wait(fault.delay)
            if fault.status is not None:
                return JSONResponse(dict(fault.body), fault.status, {**fault.headers, **_request_id()})
        denied = self._check_key(request)
        if denied is not None:
            return denied
        if request.method != "POST" or path not in ("/v1/chat/completions", "/v1/embeddings"):
            message = f"Invalid URL ({request.method} {path})"
            return JSONResponse(error_body(message, "invalid_request_error"), 404, _request_id())
        if not isinstance(body, dict):
            message = "We could not parse the JSON body of your request."
            return JSONResponse(error_body(message, "invalid_request_error"), 400, _request_id())
        if path == "/v1/embeddings":
            return self._embeddings(body)
        return self._chat(body, cut)

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for injection in self._injections:
                if injection.faults and injection.path in (None, path):
                    return injection.faults.popleft()
        return None

    async def _wait(self, seconds: float) -> None:
        """Sleep `seconds`, or less if the server is closing."""
        with self._lock:
            if self._closing_event is None:
                self._closing_event = asyncio.Event()
                self._loop = asyncio.get_running_loop()
            event = self._closing_event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    def _check_key(self, request: Request) -> Response | None:
        if self.api_key is None:
            return None
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if given == self.api_key:
            return None
        if given:
            message = f"Incorrect API key provided: {given}. You can find your API key at https://example.invalid."
            code = "invalid_api_key"
        else:
            message = "You didn't provide an API key. You need to provide your API key in an Authorization header."
            code = None
        return JSONResponse(error_body(message, "invalid_request_error", code), 401, _request_id())

    def _reply_text(self, body: dict[str, Any]) -> str:
        return self.reply(body) if callable(self.reply) else self.reply

    def _chat(self, body: dict[str, Any], cut: Fault | None = None) -> Response:
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            return JSONResponse(error_body("you must provide a model parameter", "invalid_request_error"), 400)
        if not isinstance(messages, list) or not messages:
            message = "[] is too short - 'messages'"
            return JSONResponse(error_body(message, "invalid_request_error", param="messages"), 400)
        text, finish_reason = limited(self._reply_text(body), body)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        usage = chat_usage(messages, text)
        if not body.get("stream"):
            completion = whole_completion(completion_id, created, model, text, finish_reason, usage)
            return JSONResponse(completion, headers=_request_id())

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        events = streamed_completion(head, text, finish_reason, usage if include_usage else None, cut)
        return StreamingResponse(events, media_type="text/event-stream", headers=_request_id())

    def _embeddings(self, body: dict[str, Any]) -> Response:
        model, given = body.get("model"), body.get("input")
        if not isinstance(model, str) or not model:
            return JSONResponse(error_body("you must provide a model parameter", "invalid_request_error"), 400)
        inputs: list[str]
        if isinstance(given, str):
            inputs = [given]
        elif isinstance(given, list) and given and all(isinstance(x, str) for x in given):
            inputs = given
        elif isinstance(given, list) and given and all(isinstance(x, int) for x in given):
            inputs = [json.dumps(given)]  # one token array
        elif isinstance(given, list) and given and all(isinstance(x, list) for x in given):
            inputs = [json.dumps(x) for x in given]  # token arrays
        else:
            message = "'input' must be a non-empty string, array of strings, or array of token arrays"
            return JSONResponse(error_body(message, "invalid_request_error", param="input"), 400)
        if any(text == "" for text in inputs):
            message = "'$.input' is invalid: an input must not be an empty string."
            return JSONResponse(error_body(message, "invalid_request_error"), 400)
        dimensions = body.get("dimensions") or self.dimensions
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            message = f"Invalid encoding_format: {encoding!r}"
            return JSONResponse(error_body(message, "invalid_request_error", param="encoding_format"), 400)
        data = []
        for i, text in enumerate(inputs):
            vector = embedding(text, dimensions)
            encoded: Any = vector
            if encoding == "base64":
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        prompt_tokens = sum(len(text.split()) for text in inputs)
        payload = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
        return JSONResponse(payload, headers=_request_id())


def _request_id() -> dict[str, str]:
    return {"x-request-id": f"req_{uuid.uuid4().hex}"}


def whole_completion(
    completion_id: str, created: int, model: str, text: str, finish_reason: str, usage: dict[str, Any]
) -> dict[str, Any]:
    """A `chat.completion` object, as OpenAI answers a request without `stream`."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage,
    }


async def streamed_completion(
    head: dict[str, Any], text: str, finish_reason: str, usage: dict[str, Any] | None, cut: Fault | None
) -> AsyncIterator[str]:
    """The `chat.completion.chunk` events of a streamed answer (`usage`: sent last, when asked for);
    `cut` ends the stream early, cleanly or by dropping the connection."""

    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        payload: dict[str, Any] = {
            **head,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage is not None:
            payload["usage"] = None
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": "", "refusal": None}, None)
    for piece in tokens(text)[: cut.cut_after if cut else None]:
        yield chunk({"content": piece}, None)
    if cut is not None:
        if cut.abrupt:
            raise ConnectionAbortedError("the fake drops the connection mid-stream")
        return
    yield chunk({}, finish_reason)
    if usage is not None:
        last = {**head, "system_fingerprint": "fp_fake", "choices": [], "usage": usage}
        yield f"data: {json.dumps(last)}\n\n"
    yield "data: [DONE]\n\n"
