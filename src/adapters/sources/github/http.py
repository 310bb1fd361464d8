"""Requests to the GitHub REST API: auth, bounded retries with backoff, rate-limit waits, error translation.

ETags are the caller's: it sends `If-None-Match` in `headers` and gets the 304 back. The package
docstring describes the policy.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from application.ports.sources import StageNote
from domain.errors import AccessDenied, NotFound, RateLimited, UpstreamUnavailable

log = logging.getLogger(__name__)

JSON_MEDIA = "application/vnd.github+json"
SHA_MEDIA = "application/vnd.github.sha"
RAW_MEDIA = "application/vnd.github.raw"
API_VERSION = "2022-11-28"

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Repo:
    """An owner/name pair and the API paths below it."""

    owner: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def api_path(self, suffix: str = "") -> str:
        base = f"/repos/{quote(self.owner, safe='')}/{quote(self.name, safe='')}"
        return f"{base}/{suffix}" if suffix else base


@dataclass(frozen=True)
class Answer:
    """One answer: status, headers and body (capped; empty when a sink consumed it)."""

    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise UpstreamUnavailable(f"GitHub answered {self.status} with a body that is not JSON") from e

    def message(self) -> str:
        """GitHub's own explanation (`{"message": ...}`), shortened, or ''."""
        try:
            data = self.json()
        except UpstreamUnavailable:
            return ""
        text = data.get("message", "") if isinstance(data, dict) else ""
        return str(text)[:200]


Sink = Callable[[httpx.Response], Awaitable[None]]
"""Consumes a 200 response body as it streams (the archive download)."""


class GitHubHttp:
    """GET requests to the GitHub REST API with auth, bounded retries and error translation."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_url: str,
        token: str | None,
        max_rate_limit_wait: float,
        max_attempts: int,
        sleep: Sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
    ) -> None:
        self._client = client
        self._api_url = api_url.rstrip("/")
        self._token = token or None
        self._max_wait = max_rate_limit_wait
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap

    async def get(
        self,
        repo: Repo | None,
        path: str,
        note: StageNote,
        *,
        accept: str = JSON_MEDIA,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        allow: Iterable[int] = (),
        sink: Sink | None = None,
        max_body: int | None = None,
    ) -> Answer:
        """GET `path` (of `repo`, or of none); 2xx and 304 are returned, as are statuses in `allow`; the rest raise."""
        allowed = set(allow)
        request_headers = self._headers(accept, headers)
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            try:
                answer = await self._attempt(path, request_headers, params, sink, max_body)
            except httpx.TransportError as e:  # timeouts, refused or dropped connections
                if last:
                    raise UpstreamUnavailable(self._redact(self._network_message(e, path))) from e
                await self._backoff(attempt, note, f"GitHub unreachable ({type(e).__name__})")
                continue
            except httpx.RequestError as e:  # too many redirects, undecodable body: retrying won't help
                raise UpstreamUnavailable(self._redact(f"GET {path} from GitHub failed ({type(e).__name__})")) from e
            if answer.status < 300 or answer.status == 304 or answer.status in allowed:
                return answer
            await self._handle_failure(repo, path, answer, attempt, last, note)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _headers(self, accept: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Accept": accept, "X-GitHub-Api-Version": API_VERSION, "User-Agent": "repochat"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        headers.update(extra or {})
        return headers

    async def _attempt(
        self,
        path: str,
        headers: dict[str, str],
        params: Mapping[str, str] | None,
        sink: Sink | None,
        max_body: int | None,
    ) -> Answer:
        url = self._api_url + path
        async with self._client.stream("GET", url, headers=headers, params=params, follow_redirects=True) as r:
            log.debug("GitHub GET %s -> %s", path, r.status_code)
            if r.status_code == 200 and sink is not None:
                await sink(r)
                return Answer(r.status_code, r.headers, b"")
            body = await _read_capped(r, max_body) if r.status_code < 300 else await _read_capped(r, 65536)
            return Answer(r.status_code, r.headers, body)

    async def _handle_failure(
        self, repo: Repo | None, path: str, answer: Answer, attempt: int, last: bool, note: StageNote
    ) -> None:
        """Wait before the next attempt, or raise the domain error that explains `answer`."""
        status = answer.status
        if status == 401:
            raise AccessDenied(
                "GitHub rejected the token (401 Bad credentials): check that GITHUB_TOKEN is valid and not expired"
            )
        if status == 404:
            raise NotFound(
                f"GitHub repository {repo.full_name} not found or no access "
                "(set GITHUB_TOKEN to a token that can read it)"
                if repo is not None
                else f"GitHub answered 404 to GET {path}: check REPOCHAT_GITHUB_API_URL"
            )
        if status in (403, 429):
            await self._rate_limit_or_deny(answer, attempt, last, note)
            return
        if status >= 500:
            if last:
                raise UpstreamUnavailable(
                    f"GitHub answered {status} to GET {path} {attempt} times in a row; try again later"
                )
            await self._backoff(attempt, note, f"GitHub answered {status}")
            return
        detail = answer.message()
        raise UpstreamUnavailable(self._redact(f"GitHub answered {status} to GET {path}: {detail or 'no detail'}"))

    async def _rate_limit_or_deny(self, answer: Answer, attempt: int, last: bool, note: StageNote) -> None:
        delay = self._rate_limit_delay(answer, attempt)
        if delay is None:
            detail = answer.message() or "forbidden"
            raise AccessDenied(self._redact(f"GitHub refused access (403): {detail}"))
        until = datetime.fromtimestamp(self._clock() + delay, UTC).strftime("%H:%M:%S")
        if delay > self._max_wait:
            raise RateLimited(
                f"GitHub rate limit reached; it lifts at {until} UTC, more than {self._max_wait:.0f} s from now. "
                "Try again later, or set GITHUB_TOKEN for a higher limit"
            )
        if last:
            raise RateLimited(
                f"GitHub still rate-limited the request after {attempt} attempts; try again after {until} UTC"
            )
        await note(f"waiting for GitHub rate limit until {until} UTC")
        log.info("GitHub rate limit: waiting %.0f s (until %s UTC)", delay, until)
        await self._sleep(delay)

    def _rate_limit_delay(self, answer: Answer, attempt: int) -> float | None:
        """Seconds to wait for a rate-limit answer, or None when the 403 is a plain refusal."""
        headers = answer.headers
        retry_after = _number(headers.get("retry-after"))
        if retry_after is not None:
            return max(retry_after, 0.0)
        reset = _number(headers.get("x-ratelimit-reset"))
        if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
            return max(reset - self._clock(), 0.0) + 1.0
        if answer.status == 429 or "rate limit" in answer.message().lower():
            # Secondary limits without a hint: GitHub asks to wait at least a minute.
            return max(60.0, self._backoff_delay(attempt))
        return None

    def _backoff_delay(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return ceiling * self._rng.uniform(0.5, 1.0)

    async def _backoff(self, attempt: int, note: StageNote, why: str) -> None:
        delay = self._backoff_delay(attempt)
        log.info("%s; retrying in %.1f s (attempt %d of %d)", why, delay, attempt + 1, self._max_attempts)
        await note(f"{why}; retrying (attempt {attempt + 1} of {self._max_attempts})")
        await self._sleep(delay)

    def _network_message(self, error: Exception, path: str) -> str:
        kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
        return (
            f"GitHub at {self._api_url} could not be reached: GET {path} {kind} "
            f"{self._max_attempts} times ({type(error).__name__}: {error})"
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


async def _read_capped(response: httpx.Response, cap: int | None) -> bytes:
    """The body, or at most `cap` + 1 bytes of it (enough for the caller to see it is too long)."""
    if cap is None:
        return await response.aread()
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_bytes():
        parts.append(part)
        size += len(part)
        if size > cap:
            break
    return b"".join(parts)[: cap + 1]


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None
