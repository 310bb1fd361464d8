"""GitHubArchiveSource: resolve a ref, list its files, plan and read their contents.

See the package docstring (`adapters.sources.github`) for how a sync goes and what it costs.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from adapters.sources.github.archive import (
    DEFAULT_MAX_ARCHIVE_BYTES,
    DEFAULT_MAX_ARCHIVE_FILES,
    ArchiveBudget,
    ArchiveDownloader,
    Decision,
    ExtractedStore,
    Selector,
    skip_counts,
)
from adapters.sources.github.blobs import BlobReader
from adapters.sources.github.extraction import ExtractionFolder
from adapters.sources.github.http import SHA_MEDIA, Answer, GitHubHttp, Repo, Sleep
from application.ports.sources import DocumentSource, SourceSnapshot, SourceVersion, StageNote, no_note
from domain.documents import FileEntry, Manifest, SkipCounts, SourceFile, diff_manifest
from domain.errors import InvalidInput, NotFound, UpstreamUnavailable
from domain.file_policy import (
    MAX_FILE_BYTES,
    FilePolicy,
    SkipReason,
    decode_text,
    is_safe_relative_path,
    is_valid_name,
)
from domain.sources import SourceKind, SourceSpec

READ_GROUP = 32
"""Files held in memory at once while reading extracted archive members."""
MAX_KEPT_ARCHIVES = 4
"""Extracted archives kept on disk for versions still being read (oldest dropped first)."""
MAX_IDLE_SECONDS = 15 * 60.0
"""An extracted archive no batch has read for this long is removed (a job that ended on another worker)."""

ArchiveKey = tuple[str, str, tuple[str, ...], tuple[str, ...]]
"""(repository id, commit, include, exclude): what an extracted archive holds."""


@dataclass(frozen=True)
class FetchPlan:
    """How `read` fetches the files of a version: what `snapshot` decided, as `SourceVersion.fetch_plan`.

    No plan (a version read outside an index job) reads file by file.
    """

    archive: bool = False
    """One tarball download per worker, else one `git/blobs` request per file."""
    files: int = 0
    """Files the job fetches: a worker that has read them all removes its extracted archive."""
    budget: ArchiveBudget = field(default_factory=ArchiveBudget)
    """How far the archive may expand, decided from the tree listing."""

    def dumps(self) -> str:
        return json.dumps({"archive": self.archive, "files": self.files, "budget": asdict(self.budget)})

    @classmethod
    def loads(cls, text: str) -> FetchPlan:
        if not text:
            return cls()
        data = json.loads(text)
        budget = data.get("budget")
        if budget is None:  # a plan written before budgets: only its byte limit
            return cls(bool(data["archive"]), int(data["files"]), ArchiveBudget(max_bytes=int(data["byte_limit"])))
        return cls(bool(data["archive"]), int(data["files"]), ArchiveBudget(**budget))


@dataclass
class _Extracted:
    """One commit's archive as this worker extracted it: downloaded by the first batch that needs it."""

    store: ExtractedStore | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    read: set[str] = field(default_factory=set)
    used_at: float = field(default_factory=time.monotonic)
    dropped: bool = False
    """Removed from the cache (and its store closed): a reader waiting on `lock` takes a fresh entry."""


@dataclass
class _Listing:
    files: tuple[FileEntry, ...]
    skipped: SkipCounts
    promised_bytes: int | None
    """Sum of the sizes of every blob in the tree; None when listed from the archive."""
    blobs: int = 0
    """Every blob in the tree (the archive holds them all), whatever the filters keep."""
    store: ExtractedStore | None = None


class GitHubArchiveSource(DocumentSource):
    """DocumentSource for GitHub (and GitHub Enterprise) repositories; see the package docstring.

    The container owns `client`. `archive_threshold` is the number of files to fetch from which
    one archive download beats one request per file. `sleep` and `clock` are injectable so tests
    need not wait for rate limits and backoff.

    Archives are extracted under `extract_dir` (None: the system's temporary folder), in a folder of
    this process's own (`extraction.ExtractionFolder`); `open` removes what killed processes left there.
    An extracted archive goes when the job reading it ends (`release`), when this worker has read every
    file of the job, when it was not read for `MAX_IDLE_SECONDS`, when more than `MAX_KEPT_ARCHIVES` are
    kept (oldest first), and at `aclose`.
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
        max_archive_files: int = DEFAULT_MAX_ARCHIVE_FILES,
        extract_dir: str | Path | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._http = GitHubHttp(client, api_url, token, max_rate_limit_wait, max_attempts, sleep, clock, rng)
        root = Path(extract_dir) if extract_dir is not None else Path(tempfile.gettempdir()) / "repochat-archives"
        self._folder = ExtractionFolder(root)
        self._downloader = ArchiveDownloader(self._http, self._folder, max_file_bytes)
        self._blobs = BlobReader(self._http, max_file_bytes)
        self._web_url = web_url.rstrip("/")
        self._threshold = max(1, archive_threshold)
        self._max_file_bytes = max_file_bytes
        self._max_archive_bytes = max_archive_bytes
        self._max_archive_files = max_archive_files
        self._extracted: OrderedDict[ArchiveKey, _Extracted] = OrderedDict()

    def handles(self, spec: SourceSpec) -> bool:
        return spec.kind is SourceKind.GITHUB

    async def check(self, spec: SourceSpec) -> None:
        """Whether the repository exists is GitHub's to say when the job lists it (a request costs nothing now)."""

    async def snapshot(self, spec: SourceSpec, previous: Manifest | None, note: StageNote = no_note) -> SourceSnapshot:
        repo = _repo_of(spec)
        ref = spec.ref or await self._default_branch(repo, note)
        same_ref = previous is not None and previous.ref == spec.ref
        etag = previous.etag if previous is not None and same_ref else None
        commit, new_etag = await self._resolve(repo, ref, etag, previous, note)
        web_url = f"{self._web_url}/{repo.owner}/{repo.name}"
        if previous is not None and commit == previous.commit:
            return SourceSnapshot(SourceVersion(spec.repository_id, commit, web_url, new_etag), None, SkipCounts())
        listing = await self._list(repo, commit, spec, note)
        plan = await self._plan(spec, commit, previous, listing, note)
        version = SourceVersion(spec.repository_id, commit, web_url, new_etag, plan.dumps())
        return SourceSnapshot(version, listing.files, listing.skipped)

    async def read(
        self, spec: SourceSpec, version: SourceVersion, entries: Sequence[FileEntry], note: StageNote = no_note
    ) -> AsyncIterator[SourceFile]:
        if not entries:
            return
        repo = _repo_of(spec)
        plan = FetchPlan.loads(version.fetch_plan)
        for start in range(0, len(entries), READ_GROUP):
            group = entries[start : start + READ_GROUP]
            if plan.archive:
                contents = await self._from_archive(spec, version.commit, plan, group, note)
            else:
                contents = await self._blobs.read_many(repo, group, note)
            for entry in group:
                raw = contents.get(entry.path)
                text = decode_text(raw) if raw is not None else None
                if text is not None:  # binary, unsafe or oversized content is not yielded
                    yield SourceFile(entry.path, entry.blob_sha, text)
        if plan.archive:
            await self._note_read(_archive_key(spec, version.commit), entries, plan)

    async def release(self, spec: SourceSpec, version: SourceVersion) -> None:
        """The job reading `version` ended: remove the archive this process extracted for it."""
        await self._forget(_archive_key(spec, version.commit))

    async def open(self) -> None:
        """Claim this process's extraction folder, removing what killed processes left (the container calls
        this at start; the first download would otherwise)."""
        await asyncio.to_thread(self._folder.claim)

    async def aclose(self) -> None:
        """Remove every extracted archive and this process's folder (the container calls this on shutdown)."""
        for key in list(self._extracted):
            await self._forget(key)
        await asyncio.to_thread(self._folder.release)

    # -- resolving and listing

    async def _default_branch(self, repo: Repo, note: StageNote) -> str:
        data = (await self._http.get(repo, repo.api_path(), note)).json()
        branch = data.get("default_branch") if isinstance(data, dict) else None
        if not isinstance(branch, str) or not branch:
            raise UpstreamUnavailable(f"GitHub did not say which branch is the default of {repo.full_name}")
        return branch

    async def _resolve(
        self, repo: Repo, ref: str, etag: str | None, previous: Manifest | None, note: StageNote
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

    async def _list(self, repo: Repo, commit: str, spec: SourceSpec, note: StageNote) -> _Listing:
        answer = await self._http.get(repo, repo.api_path(f"git/trees/{commit}"), note, params={"recursive": "1"})
        data = answer.json()
        if not isinstance(data, dict) or not isinstance(data.get("tree"), list):
            raise UpstreamUnavailable(f"GitHub sent an unexpected tree listing for {repo.full_name}@{commit[:7]}")
        if data.get("truncated"):
            await note("listing files from the archive (the tree is too large for one API call)")
            return await self._list_from_archive(repo, commit, spec, note)
        listing = await asyncio.to_thread(self._list_tree, data["tree"], spec)  # 100k paths through the filters
        if listing.blobs > self._max_archive_files:
            raise InvalidInput(
                f"{repo.full_name}@{commit[:7]} {ArchiveBudget(max_files=self._max_archive_files).too_many_files()}"
            )
        return listing

    def _list_tree(self, items: list[Any], spec: SourceSpec) -> _Listing:
        policy = self._policy(spec)
        prefix = f"{spec.subdir}/" if spec.subdir else ""
        files: list[FileEntry] = []
        counts: dict[SkipReason, int] = {}
        promised = blobs = 0
        for item in items:
            if not isinstance(item, dict) or item.get("type") != "blob":
                continue
            path, size = str(item.get("path", "")), int(item.get("size") or 0)
            promised += size
            blobs += 1
            if not path.startswith(prefix):
                continue
            reason = self._tree_skip(item, path, size, policy)
            if reason is not None:
                counts[reason] = counts.get(reason, 0) + 1
                continue
            files.append(FileEntry(path, str(item["sha"]), size))
        return _Listing(tuple(files), skip_counts(counts), promised, blobs)

    @staticmethod
    def _tree_skip(item: Mapping[str, Any], path: str, size: int, policy: FilePolicy) -> SkipReason | None:
        if not is_valid_name(path):
            return SkipReason.BAD_NAME
        if not is_safe_relative_path(path) or item.get("mode") == "120000":
            return SkipReason.UNSAFE  # escaping path, or a symlink
        return policy.check(path, size)

    async def _list_from_archive(self, repo: Repo, commit: str, spec: SourceSpec, note: StageNote) -> _Listing:
        budget = ArchiveBudget(self._max_archive_files, self._max_archive_bytes)
        store, scan = await self._downloader.download_and_scan(repo, commit, self._selector(spec), budget, True, note)
        return _Listing(tuple(scan.entries), scan.skipped, None, store=store)

    def _selector(self, spec: SourceSpec) -> Selector:
        """Which archive members are the listed files: those under the subfolder that the filters keep."""
        policy = self._policy(spec)
        prefix = f"{spec.subdir}/" if spec.subdir else ""

        def select(path: str, size: int) -> Decision | SkipReason:
            if not path.startswith(prefix):
                return Decision.IGNORE
            return policy.check(path, size) or Decision.READ

        return select

    def _policy(self, spec: SourceSpec) -> FilePolicy:
        return FilePolicy(include=spec.include, exclude=spec.exclude, max_bytes=self._max_file_bytes)

    # -- planning reads

    async def _plan(
        self, spec: SourceSpec, commit: str, previous: Manifest | None, listing: _Listing, note: StageNote
    ) -> FetchPlan:
        """Archive or file by file, decided once for all the job's batches, wherever they run."""
        to_fetch = len(diff_manifest(previous, listing.files).to_index)
        archive = listing.store is not None or to_fetch >= self._threshold
        budget = ArchiveBudget(self._max_archive_files, self._max_archive_bytes, listing.promised_bytes, listing.blobs)
        if listing.store is not None:
            if to_fetch:  # listed from the archive: its batches read from the same download
                await self._keep(_archive_key(spec, commit), _Extracted(listing.store))
            else:
                await asyncio.to_thread(listing.store.close)
        if to_fetch:
            how = "archive" if archive else "one request per file"
            await note(f"fetching {to_fetch:,} files ({how})")
        return FetchPlan(archive, to_fetch, budget)

    async def _keep(self, key: ArchiveKey, extracted: _Extracted) -> None:
        await self._forget(key)
        self._extracted[key] = extracted
        now = time.monotonic()
        for old_key, old in list(self._extracted.items()):
            if now - old.used_at > MAX_IDLE_SECONDS or len(self._extracted) > MAX_KEPT_ARCHIVES:
                await self._forget(old_key)

    async def _forget(self, key: ArchiveKey) -> None:
        extracted = self._extracted.pop(key, None)
        if extracted is None:
            return
        extracted.dropped = True
        if extracted.store is not None:
            await asyncio.shield(asyncio.to_thread(extracted.store.close))

    async def _note_read(self, key: ArchiveKey, entries: Sequence[FileEntry], plan: FetchPlan) -> None:
        """Remove the archive once this worker has read every file of the job (else it ages out)."""
        extracted = self._extracted.get(key)
        if extracted is None:
            return
        extracted.read.update(entry.path for entry in entries)
        if len(extracted.read) >= plan.files:
            await self._forget(key)

    # -- reading contents

    async def _from_archive(
        self, spec: SourceSpec, commit: str, plan: FetchPlan, entries: Sequence[FileEntry], note: StageNote
    ) -> dict[str, bytes | None]:
        repo = _repo_of(spec)
        store = await self._archive_store(spec, commit, plan, note)
        found: dict[str, bytes | None] = dict(await asyncio.to_thread(store.get_many, [e.path for e in entries]))
        absent = [e for e in entries if e.path not in found and e.path not in store.rejected]
        if absent:  # e.g. `export-ignore`d in .gitattributes: not in archives, still in the tree
            found.update(await self._blobs.read_many(repo, absent, note))
        return found

    async def _archive_store(self, spec: SourceSpec, commit: str, plan: FetchPlan, note: StageNote) -> ExtractedStore:
        """The version's archive, extracted once per worker: every listed file, so each batch finds its own."""
        key = _archive_key(spec, commit)
        while True:
            extracted = self._extracted.get(key)
            if extracted is None:
                extracted = _Extracted()
                await self._keep(key, extracted)
            async with extracted.lock:
                if extracted.dropped:
                    continue
                extracted.used_at = time.monotonic()
                if extracted.store is None:
                    store, _ = await self._downloader.download_and_scan(
                        _repo_of(spec), commit, self._selector(spec), plan.budget, False, note
                    )
                    if extracted.dropped:  # released while it downloaded
                        await asyncio.to_thread(store.close)
                        continue
                    extracted.store = store
                return extracted.store


def _archive_key(spec: SourceSpec, commit: str) -> ArchiveKey:
    return spec.repository_id, commit, spec.include, spec.exclude


def _repo_of(spec: SourceSpec) -> Repo:
    owner, _, name = spec.location.partition("/")
    if not owner or not name or "/" in name:
        raise InvalidInput(f"not a GitHub owner/repo: {spec.location!r}")
    return Repo(owner, name)


def _sha_from_json(answer: Answer) -> str:
    """A server that ignored the SHA media type sent the commit as JSON."""
    try:
        data = answer.json()
    except UpstreamUnavailable:
        data = None
    sha = data.get("sha") if isinstance(data, dict) else None
    if not isinstance(sha, str):
        raise UpstreamUnavailable("GitHub did not answer with a commit SHA")
    return sha
