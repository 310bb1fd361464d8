"""GitHub document source: implements application.ports.DocumentSource over the GitHub REST API.

How a sync goes, and why it is cheap:

1. The ref (branch, tag, SHA; the default branch when none) is resolved to a commit SHA with
   `GET /repos/{o}/{r}/commits/{ref}` (`Accept: application/vnd.github.sha`), sending the ETag
   of the previous sync as `If-None-Match`. A 304, or the same commit as the live manifest,
   means "unchanged": the snapshot has `files=None` and nothing else is requested (at most
   two requests: the repository, for its default branch, and the commit).
2. Otherwise the tree is listed once (`git/trees/{sha}?recursive=1`): paths, sizes, blob SHAs.
   The adapter diffs it against the previous manifest to count the files to fetch.
3. Contents come from one `tarball` download (streamed to a temporary file, extracted off the
   event loop, only the wanted members kept) when at least `archive_threshold` files are to be
   fetched, else from one `git/blobs/{sha}` request per file. The choice is made once per
   snapshot, because the use case calls `read()` in many small batches.
4. A truncated tree (GitHub caps recursive listings) is listed from the archive instead.

Rate limits (403 with `x-ratelimit-remaining: 0`, 403/429 with `retry-after`) are waited out
up to `max_rate_limit_wait` seconds, 5xx answers and network failures are retried with
exponential backoff and jitter, and everything else becomes a domain error. The token is sent
as `Authorization: Bearer` to the API only (httpx drops it on redirects to another host, such
as codeload) and never appears in logs or error messages.

Archive members are never written under their own names: their content is copied into files
named by number, so paths that escape the root cannot write anywhere. Absolute or `..` paths,
links, devices and oversized members are skipped and counted; an archive that expands far
beyond what the tree listing promised is stopped as a decompression bomb.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import math
import random
import shutil
import tarfile
import tempfile
import time
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from application.ports import DocumentSource, SourceSnapshot, StageNote, no_note
from domain.documents import FileEntry, Manifest, SkipCounts, SourceFile, diff_manifest, git_blob_sha
from domain.errors import AccessDenied, InvalidInput, NotFound, RateLimited, UpstreamUnavailable
from domain.file_policy import MAX_FILE_BYTES, FilePolicy, SkipReason, decode_text, is_safe_relative_path
from domain.sources import SourceKind, SourceSpec

log = logging.getLogger(__name__)

JSON_MEDIA = "application/vnd.github+json"
SHA_MEDIA = "application/vnd.github.sha"
RAW_MEDIA = "application/vnd.github.raw"
API_VERSION = "2022-11-28"

BOMB_FACTOR = 2
"""An archive may expand to this many times the bytes its tree listing promised (plus slack)."""
BOMB_SLACK_BYTES = 16 * 1024 * 1024
TAR_OVERHEAD_PER_FILE = 1536
"""A tar header block, a possible pax header and padding, per listed file."""
DEFAULT_MAX_ARCHIVE_BYTES = 8 * 1024**3
"""Expansion cap when no complete tree listing says what to expect (a truncated tree)."""
BLOB_CONCURRENCY = 8
READ_GROUP = 32
"""Files held in memory at once while reading extracted archive members."""
MAX_KEPT_ARCHIVES = 4
"""Extracted archives kept on disk for snapshots still being read (oldest dropped first)."""

Sleep = Callable[[float], Awaitable[None]]


class _Decision(Enum):
    READ = "read"
    IGNORE = "ignore"


class _ArchiveBomb(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# HTTP: authentication, retries, rate limits, error translation


@dataclass(frozen=True)
class _Repo:
    owner: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def api_path(self, suffix: str = "") -> str:
        base = f"/repos/{quote(self.owner, safe='')}/{quote(self.name, safe='')}"
        return f"{base}/{suffix}" if suffix else base


@dataclass(frozen=True)
class _Answer:
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
        repo: _Repo,
        path: str,
        note: StageNote,
        *,
        accept: str = JSON_MEDIA,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        allow: Iterable[int] = (),
        sink: Sink | None = None,
        max_body: int | None = None,
    ) -> _Answer:
        """GET `path`; 2xx and 304 are returned, as are statuses in `allow`; the rest raise."""
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
    ) -> _Answer:
        url = self._api_url + path
        async with self._client.stream("GET", url, headers=headers, params=params, follow_redirects=True) as r:
            log.debug("GitHub GET %s -> %s", path, r.status_code)
            if r.status_code == 200 and sink is not None:
                await sink(r)
                return _Answer(r.status_code, r.headers, b"")
            body = await _read_capped(r, max_body) if r.status_code < 300 else await _read_capped(r, 65536)
            return _Answer(r.status_code, r.headers, body)

    async def _handle_failure(
        self, repo: _Repo, path: str, answer: _Answer, attempt: int, last: bool, note: StageNote
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

    async def _rate_limit_or_deny(self, answer: _Answer, attempt: int, last: bool, note: StageNote) -> None:
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

    def _rate_limit_delay(self, answer: _Answer, attempt: int) -> float | None:
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


# ---------------------------------------------------------------------------------------------
# Archive: streaming download, safe extraction of wanted members into a numbered store


class _ExtractedStore:
    """Contents of archive members, in files named by number under a private temp folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folder = root / "files"
        self._folder.mkdir()
        self._files: dict[str, Path] = {}
        self.rejected: dict[str, SkipReason] = {}

    def put(self, path: str, data: bytes) -> None:
        target = self._folder / f"{len(self._files):08d}"
        target.write_bytes(data)
        self._files[path] = target

    def get_many(self, paths: Sequence[str]) -> dict[str, bytes]:
        return {p: self._files[p].read_bytes() for p in paths if p in self._files}

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class _ArchiveScan:
    entries: list[FileEntry] = field(default_factory=list)
    skipped: SkipCounts = field(default_factory=SkipCounts)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _CountingReader:
    """A read-only stream that stops once more than `limit` bytes came out of it."""

    def __init__(self, raw: _Readable, limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        if self.count > self._limit:
            raise _ArchiveBomb(f"expanded beyond {self._limit:,} bytes")
        return data


Selector = Callable[[str, int], "_Decision | SkipReason"]
"""Decides, from a member's repo-relative path and size, whether to keep its content."""


def _member_problem(member: tarfile.TarInfo, max_file_bytes: int) -> SkipReason | None:
    if member.issym() or member.islnk() or member.isdev() or member.issparse() or not member.isreg():
        return SkipReason.UNSAFE
    if member.size > max_file_bytes:
        return SkipReason.TOO_LARGE
    return None


def _strip_top(name: str) -> str | None:
    """The path below the archive's top folder (`owner-repo-sha/`), None for the folder itself."""
    _top, _, rest = name.partition("/")
    return rest.strip("/") or None


def _classify(
    member: tarfile.TarInfo, select: Selector, max_file_bytes: int
) -> tuple[str | None, _Decision | SkipReason]:
    """A member's repo-relative path (None when it has none) and what to do with it."""
    if member.isdir():
        return None, _Decision.IGNORE
    if not is_safe_relative_path(member.name):
        return None, SkipReason.UNSAFE
    path = _strip_top(member.name)
    if path is None:
        return None, _Decision.IGNORE
    decision = select(path, member.size)
    if decision is not _Decision.READ:
        return path, decision
    return path, _member_problem(member, max_file_bytes) or _Decision.READ


@contextmanager
def _open_tar_gz(archive: Path, byte_limit: int) -> Iterator[tarfile.TarFile]:
    """A streaming reader of a .tar.gz that raises _ArchiveBomb past `byte_limit` uncompressed bytes."""
    with archive.open("rb") as raw, gzip.GzipFile(fileobj=raw) as unzipped:
        reader = _CountingReader(unzipped, byte_limit)
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            yield tar


def scan_archive(
    archive: Path, store: _ExtractedStore, select: Selector, byte_limit: int, max_file_bytes: int, listing: bool
) -> _ArchiveScan:
    """Stream through a .tar.gz once, keeping the members `select` wants. Runs in a worker thread.

    With `listing`, every kept member becomes a FileEntry (blob SHA computed from its bytes) and
    skipped members are counted; otherwise only wanted paths matter and problems with them are
    recorded in `store.rejected` so they are neither yielded nor fetched another way.
    """
    scan = _ArchiveScan()
    counts: dict[SkipReason, int] = {}
    with _open_tar_gz(archive, byte_limit) as tar:
        for member in tar:
            path, outcome = _classify(member, select, max_file_bytes)
            if isinstance(outcome, SkipReason):
                if path is not None:
                    store.rejected[path] = outcome
                counts[outcome] = counts.get(outcome, 0) + 1
            elif outcome is _Decision.READ and path is not None:
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
                store.put(path, data)
                if listing:
                    scan.entries.append(FileEntry(path, git_blob_sha(data), len(data)))
    if listing:
        scan.skipped = _skip_counts(counts)
    return scan


def _skip_counts(counts: Mapping[SkipReason, int]) -> SkipCounts:
    return SkipCounts(
        binary=counts.get(SkipReason.BINARY, 0),
        too_large=counts.get(SkipReason.TOO_LARGE, 0),
        unsafe=counts.get(SkipReason.UNSAFE, 0),
        filtered=counts.get(SkipReason.FILTERED, 0),
    )


# ---------------------------------------------------------------------------------------------
# The source


@dataclass
class _Plan:
    """What `snapshot` decided for reading one commit: which files, and how."""

    repo: _Repo
    commit: str
    to_fetch: set[str]
    use_archive: bool
    byte_limit: int
    store: _ExtractedStore | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    announced: bool = False


@dataclass
class _Listing:
    files: tuple[FileEntry, ...]
    skipped: SkipCounts
    promised_bytes: int | None
    """Sum of the sizes of every blob in the tree; None when listed from the archive."""
    store: _ExtractedStore | None = None


class GitHubArchiveSource(DocumentSource):
    """DocumentSource for GitHub (and GitHub Enterprise) repositories; see the module docstring.

    The container owns `client`. `archive_threshold` is the number of files to fetch from which
    one archive download beats one request per file. `sleep` and `clock` are injectable so tests
    need not wait for rate limits and backoff.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_url: str = "https://api.github.com",
        token: str | None = None,
        web_url: str = "https://github.com",
        archive_threshold: int = 20,
        max_rate_limit_wait: float = 900,
        max_attempts: int = 5,
        sleep: Sleep = asyncio.sleep,
        *,
        clock: Callable[[], float] = time.time,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
        temp_dir: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._http = GitHubHttp(client, api_url, token, max_rate_limit_wait, max_attempts, sleep, clock, rng)
        self._web_url = web_url.rstrip("/")
        self._threshold = max(1, archive_threshold)
        self._max_file_bytes = max_file_bytes
        self._max_archive_bytes = max_archive_bytes
        self._temp_dir = temp_dir
        self._plans: OrderedDict[tuple[str, str], _Plan] = OrderedDict()

    def handles(self, spec: SourceSpec) -> bool:
        return spec.kind is SourceKind.GITHUB

    async def snapshot(self, spec: SourceSpec, previous: Manifest | None, note: StageNote = no_note) -> SourceSnapshot:
        repo = _repo_of(spec)
        ref = spec.ref or await self._default_branch(repo, note)
        same_ref = previous is not None and previous.ref == spec.ref
        etag = previous.etag if previous is not None and same_ref else None
        commit, new_etag = await self._resolve(repo, ref, etag, previous, note)
        web_url = f"{self._web_url}/{repo.owner}/{repo.name}"
        if previous is not None and commit == previous.commit:
            return SourceSnapshot(spec.repository_id, commit, web_url, None, SkipCounts(), new_etag)
        listing = await self._list(repo, commit, spec, note)
        self._remember(spec.repository_id, repo, commit, previous, listing)
        return SourceSnapshot(spec.repository_id, commit, web_url, listing.files, listing.skipped, new_etag)

    async def read(
        self, spec: SourceSpec, snapshot: SourceSnapshot, entries: Sequence[FileEntry], note: StageNote = no_note
    ) -> AsyncIterator[SourceFile]:
        if not entries:
            return
        plan = self._plans.get((snapshot.repository, snapshot.commit)) or self._unplanned(spec, snapshot, entries)
        await self._announce(plan, note)
        for start in range(0, len(entries), READ_GROUP):
            group = entries[start : start + READ_GROUP]
            if plan.use_archive:
                contents = await self._from_archive(plan, group, note)
            else:
                contents = await self._from_blobs(plan.repo, group, note)
            for entry in group:
                plan.to_fetch.discard(entry.path)
                raw = contents.get(entry.path)
                text = decode_text(raw) if raw is not None else None
                if text is not None:  # binary, unsafe or oversized content is not yielded
                    yield SourceFile(entry.path, entry.blob_sha, text)
        if not plan.to_fetch:
            self._forget((snapshot.repository, snapshot.commit))

    async def aclose(self) -> None:
        """Remove temporary archive folders (the container calls this on shutdown)."""
        for key in list(self._plans):
            self._forget(key)

    # -- resolving and listing

    async def _default_branch(self, repo: _Repo, note: StageNote) -> str:
        data = (await self._http.get(repo, repo.api_path(), note)).json()
        branch = data.get("default_branch") if isinstance(data, dict) else None
        if not isinstance(branch, str) or not branch:
            raise UpstreamUnavailable(f"GitHub did not say which branch is the default of {repo.full_name}")
        return branch

    async def _resolve(
        self, repo: _Repo, ref: str, etag: str | None, previous: Manifest | None, note: StageNote
    ) -> tuple[str, str | None]:
        """The commit SHA `ref` points at, and the answer's ETag. A 304 means `previous.commit`."""
        headers = {"If-None-Match": etag} if etag else None
        path = repo.api_path(f"commits/{quote(ref, safe='/')}")
        answer = await self._http.get(repo, path, note, accept=SHA_MEDIA, headers=headers, allow=(404, 422))
        if answer.status == 304 and previous is not None:
            return previous.commit, etag
        if answer.status in (404, 422):
            await self._http.get(repo, repo.api_path(), note)  # raises NotFound when the repository is the problem
            raise NotFound(f"ref {ref!r} not found in GitHub repository {repo.full_name}")
        commit = answer.body.decode("ascii", "replace").strip()
        if len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit):
            commit = _sha_from_json(answer)
        return commit, answer.headers.get("etag")

    async def _list(self, repo: _Repo, commit: str, spec: SourceSpec, note: StageNote) -> _Listing:
        answer = await self._http.get(repo, repo.api_path(f"git/trees/{commit}"), note, params={"recursive": "1"})
        data = answer.json()
        if not isinstance(data, dict) or not isinstance(data.get("tree"), list):
            raise UpstreamUnavailable(f"GitHub sent an unexpected tree listing for {repo.full_name}@{commit[:7]}")
        if data.get("truncated"):
            await note("listing files from the archive (the tree is too large for one API call)")
            return await self._list_from_archive(repo, commit, spec, note)
        return self._list_tree(data["tree"], spec)

    def _list_tree(self, items: list[Any], spec: SourceSpec) -> _Listing:
        policy = self._policy(spec)
        prefix = f"{spec.subdir}/" if spec.subdir else ""
        files: list[FileEntry] = []
        counts: dict[SkipReason, int] = {}
        promised = 0
        for item in items:
            if not isinstance(item, dict) or item.get("type") != "blob":
                continue
            path, size = str(item.get("path", "")), int(item.get("size") or 0)
            promised += size
            if not path.startswith(prefix):
                continue
            reason = self._tree_skip(item, path, size, policy)
            if reason is not None:
                counts[reason] = counts.get(reason, 0) + 1
                continue
            files.append(FileEntry(path, str(item["sha"]), size))
        return _Listing(tuple(files), _skip_counts(counts), promised)

    @staticmethod
    def _tree_skip(item: Mapping[str, Any], path: str, size: int, policy: FilePolicy) -> SkipReason | None:
        if not is_safe_relative_path(path) or item.get("mode") == "120000":
            return SkipReason.UNSAFE  # escaping path, or a symlink
        return policy.check(path, size)

    async def _list_from_archive(self, repo: _Repo, commit: str, spec: SourceSpec, note: StageNote) -> _Listing:
        policy = self._policy(spec)
        prefix = f"{spec.subdir}/" if spec.subdir else ""

        def select(path: str, size: int) -> _Decision | SkipReason:
            if not path.startswith(prefix):
                return _Decision.IGNORE
            return policy.check(path, size) or _Decision.READ

        store, scan = await self._download_and_scan(repo, commit, select, self._max_archive_bytes, True, note)
        return _Listing(tuple(scan.entries), scan.skipped, None, store)

    def _policy(self, spec: SourceSpec) -> FilePolicy:
        return FilePolicy(include=spec.include, exclude=spec.exclude, max_bytes=self._max_file_bytes)

    # -- planning reads

    def _remember(self, key_repo: str, repo: _Repo, commit: str, previous: Manifest | None, listing: _Listing) -> None:
        to_fetch = {entry.path for entry in diff_manifest(previous, listing.files).to_index}
        use_archive = listing.store is not None or len(to_fetch) >= self._threshold
        plan = _Plan(repo, commit, to_fetch, use_archive, self._byte_limit(listing), listing.store)
        if to_fetch:
            self._keep((key_repo, commit), plan)
        else:
            self._forget((key_repo, commit))
            if listing.store is not None:
                listing.store.close()

    def _byte_limit(self, listing: _Listing) -> int:
        if listing.promised_bytes is None:
            return self._max_archive_bytes
        slack = BOMB_SLACK_BYTES + TAR_OVERHEAD_PER_FILE * (len(listing.files) + 1)
        return min(BOMB_FACTOR * listing.promised_bytes + slack, self._max_archive_bytes)

    def _unplanned(self, spec: SourceSpec, snapshot: SourceSnapshot, entries: Sequence[FileEntry]) -> _Plan:
        """A plan for a snapshot taken elsewhere (another worker): decide from this batch alone.

        An archive plan extracts every file the snapshot lists and is kept, so later batches on
        this worker read from the same download; a per-file plan lasts for this call only.
        """
        repo = _repo_of(spec)
        if len(entries) < self._threshold:
            return _Plan(repo, snapshot.commit, {e.path for e in entries}, False, self._max_archive_bytes)
        listed = snapshot.files or tuple(entries)
        plan = _Plan(repo, snapshot.commit, {e.path for e in listed}, True, self._max_archive_bytes)
        self._keep((snapshot.repository, snapshot.commit), plan)
        return plan

    def _keep(self, key: tuple[str, str], plan: _Plan) -> None:
        self._forget(key)
        self._plans[key] = plan
        while len(self._plans) > MAX_KEPT_ARCHIVES:
            self._forget(next(iter(self._plans)))

    def _forget(self, key: tuple[str, str]) -> None:
        plan = self._plans.pop(key, None)
        if plan is not None and plan.store is not None:
            plan.store.close()

    async def _announce(self, plan: _Plan, note: StageNote) -> None:
        if plan.announced:
            return
        plan.announced = True
        how = "archive" if plan.use_archive else "one request per file"
        await note(f"fetching {len(plan.to_fetch):,} files ({how})")

    # -- reading contents

    async def _from_archive(
        self, plan: _Plan, entries: Sequence[FileEntry], note: StageNote
    ) -> dict[str, bytes | None]:
        store = await self._archive_store(plan, note)
        found: dict[str, bytes | None] = dict(await asyncio.to_thread(store.get_many, [e.path for e in entries]))
        absent = [e for e in entries if e.path not in found and e.path not in store.rejected]
        if absent:  # e.g. `export-ignore`d in .gitattributes: not in archives, still in the tree
            found.update(await self._from_blobs(plan.repo, absent, note))
        return found

    async def _archive_store(self, plan: _Plan, note: StageNote) -> _ExtractedStore:
        async with plan.lock:
            if plan.store is None:
                wanted = set(plan.to_fetch)

                def select(path: str, size: int) -> _Decision | SkipReason:
                    return _Decision.READ if path in wanted else _Decision.IGNORE

                plan.store, _ = await self._download_and_scan(
                    plan.repo, plan.commit, select, plan.byte_limit, False, note
                )
            return plan.store

    async def _download_and_scan(
        self, repo: _Repo, commit: str, select: Selector, byte_limit: int, listing: bool, note: StageNote
    ) -> tuple[_ExtractedStore, _ArchiveScan]:
        folder = Path(tempfile.mkdtemp(prefix="repochat-github-", dir=self._temp_dir))
        store = _ExtractedStore(folder)
        archive = folder / "archive.tar.gz"
        try:
            await self._download(repo, commit, archive, byte_limit, note)
            scan = await asyncio.to_thread(
                scan_archive, archive, store, select, byte_limit, self._max_file_bytes, listing
            )
        except _ArchiveBomb as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise UpstreamUnavailable(
                f"the archive of {repo.full_name}@{commit[:7]} {e}, far more than its tree listing promised; "
                "stopped reading it as a likely decompression bomb"
            ) from e
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise UpstreamUnavailable(
                f"the archive GitHub sent for {repo.full_name}@{commit[:7]} is unreadable ({type(e).__name__})"
            ) from e
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        archive.unlink(missing_ok=True)
        return store, scan

    async def _download(self, repo: _Repo, commit: str, target: Path, byte_limit: int, note: StageNote) -> None:
        """Stream `tarball/{commit}` (GitHub answers with a redirect) into `target`."""
        with target.open("wb") as out:

            async def sink(response: httpx.Response) -> None:
                out.seek(0)
                out.truncate()  # a retried download starts over
                size = 0
                async for part in response.aiter_bytes(1 << 16):
                    size += len(part)
                    if size > byte_limit:
                        raise _ArchiveBomb(f"download exceeded {byte_limit:,} bytes")
                    out.write(part)

            await self._http.get(repo, repo.api_path(f"tarball/{commit}"), note, accept=JSON_MEDIA, sink=sink)

    async def _from_blobs(self, repo: _Repo, entries: Sequence[FileEntry], note: StageNote) -> dict[str, bytes | None]:
        gate = asyncio.Semaphore(BLOB_CONCURRENCY)

        async def fetch(entry: FileEntry) -> tuple[str, bytes | None]:
            async with gate:
                return entry.path, await self._blob(repo, entry, note)

        return dict(await asyncio.gather(*(fetch(e) for e in entries)))

    async def _blob(self, repo: _Repo, entry: FileEntry, note: StageNote) -> bytes | None:
        """The blob's bytes (raw media type, or the base64 JSON form), None when too large."""
        path = repo.api_path(f"git/blobs/{entry.blob_sha}")
        answer = await self._http.get(repo, path, note, accept=RAW_MEDIA, max_body=self._max_file_bytes * 2)
        content = _blob_json_content(answer, entry.blob_sha)
        if content is None:
            content = answer.body
        return content if len(content) <= self._max_file_bytes else None


def _repo_of(spec: SourceSpec) -> _Repo:
    owner, _, name = spec.location.partition("/")
    if not owner or not name or "/" in name:
        raise InvalidInput(f"not a GitHub owner/repo: {spec.location!r}")
    return _Repo(owner, name)


def _blob_json_content(answer: _Answer, blob_sha: str) -> bytes | None:
    """The content of a blob sent as JSON (a server that ignored the raw media type), else None.

    A raw JSON file is told apart by the `sha` field, which only the JSON form has.
    """
    if not answer.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        data = answer.json()
    except UpstreamUnavailable:
        return None
    if not isinstance(data, dict) or data.get("sha") != blob_sha or "content" not in data:
        return None
    if data.get("encoding") == "base64":
        return base64.b64decode(str(data["content"]))
    return str(data["content"]).encode()


def _sha_from_json(answer: _Answer) -> str:
    """A server that ignored the SHA media type sent the commit as JSON."""
    try:
        data = answer.json()
    except UpstreamUnavailable:
        data = None
    sha = data.get("sha") if isinstance(data, dict) else None
    if not isinstance(sha, str):
        raise UpstreamUnavailable("GitHub did not answer with a commit SHA")
    return sha
