"""Tarball archives: streaming download, safe extraction of wanted members, decompression-bomb checks.

The package docstring describes the safety rules.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Protocol

import httpx

from adapters.sources.github.extraction import ExtractionFolder
from adapters.sources.github.http import JSON_MEDIA, GitHubHttp, Repo
from application.ports.sources import StageNote
from domain.documents import FileEntry, SkipCounts, git_blob_sha
from domain.errors import InvalidInput, UpstreamUnavailable
from domain.file_policy import SkipReason, is_safe_relative_path, is_valid_name

BOMB_FACTOR = 2
"""An archive may expand to this many times the bytes its tree listing promised (plus slack)."""
BOMB_SLACK_BYTES = 16 * 1024 * 1024
TAR_OVERHEAD_PER_FILE = 1536
"""A tar header block, a possible pax header and padding, per listed file."""
DEFAULT_MAX_ARCHIVE_BYTES = 4 * 1024**3
"""Expansion cap of every archive, and the whole budget when no complete tree listing says what to expect
(a truncated tree): the Linux kernel's archive expands to about 1.5 GB."""
DEFAULT_MAX_ARCHIVE_FILES = 200_000
"""Files an archive may hold: ansible's has about 4,000, the Linux kernel's about 80,000."""
MAX_FILES_SETTING = "REPOCHAT_ARCHIVE_MAX_FILES"
MAX_BYTES_SETTING = "REPOCHAT_ARCHIVE_MAX_BYTES"


class Decision(Enum):
    READ = "read"
    IGNORE = "ignore"


@dataclass(frozen=True)
class ArchiveBudget:
    """How far one archive may expand: a number of files, and bytes in proportion to what its tree
    listing promised (`promised_bytes` for `listed_files`), never past `max_bytes`, which is the
    whole byte budget when there was no complete listing (`promised_bytes` None)."""

    max_files: int = DEFAULT_MAX_ARCHIVE_FILES
    max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
    promised_bytes: int | None = None
    listed_files: int = 0

    @property
    def byte_limit(self) -> int:
        return expansion_limit(self.promised_bytes, self.listed_files, self.max_bytes)

    def too_many_files(self) -> str:
        return (
            f"holds more than {self.max_files:,} files, the most an archive may hold; "
            f"raise {MAX_FILES_SETTING} to index a repository that large"
        )

    def too_many_bytes(self) -> str:
        """Which byte cap stopped the archive, and how to raise it (when raising it is what helps)."""
        stopped = f"expanded beyond {self.byte_limit:,} bytes"
        bomb = "stopped reading it as a likely decompression bomb"
        if self.promised_bytes is None:
            return (
                f"{stopped}, the most an archive without a complete tree listing may expand to; {bomb} "
                f"(raise {MAX_BYTES_SETTING} if the repository really is that large)"
            )
        if self.byte_limit == self.max_bytes:
            return f"{stopped}, the most any archive may expand to; {bomb} (raise {MAX_BYTES_SETTING} to allow more)"
        return f"{stopped}, far more than the {self.promised_bytes:,} bytes its tree listing promised; {bomb}"


class ArchiveOverBudget(Exception):
    """The archive went past its budget; the message says which cap stopped it."""


def expansion_limit(promised_bytes: int | None, listed_files: int, cap: int) -> int:
    """How many bytes an archive may expand to, given what its tree listing promised (None: unknown)."""
    if promised_bytes is None:
        return cap
    slack = BOMB_SLACK_BYTES + TAR_OVERHEAD_PER_FILE * (listed_files + 1)
    return min(BOMB_FACTOR * promised_bytes + slack, cap)


class ExtractedStore:
    """Contents of archive members, in files named by number under a folder of their own.

    `close` may come from the event loop while a worker thread is still extracting into the store
    (a cancelled job): after it, `put` writes nothing and raises, so the thread stops and nothing stays.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folder = root / "files"
        self._folder.mkdir()
        self._files: dict[str, Path] = {}
        self._closed = False
        self._guard = threading.Lock()
        self.rejected: dict[str, SkipReason] = {}

    def put(self, path: str, data: bytes) -> None:
        with self._guard:
            if self._closed:
                raise StoreClosed(self.root)
            target = self._folder / f"{len(self._files):08d}"
            target.write_bytes(data)
            self._files[path] = target

    def get_many(self, paths: Sequence[str]) -> dict[str, bytes]:
        """The contents of those of `paths` the store holds; none once it is closed (the caller fetches
        what is missing another way)."""
        found: dict[str, bytes] = {}
        for path in paths:
            if path in self._files:
                try:
                    found[path] = self._files[path].read_bytes()
                except FileNotFoundError:
                    return {}
        return found

    def close(self) -> None:
        with self._guard:
            self._closed = True
        shutil.rmtree(self.root, ignore_errors=True)


class StoreClosed(Exception):
    """The store was closed while an archive was being extracted into it."""


@dataclass
class ArchiveScan:
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
            raise ArchiveOverBudget
        return data


Selector = Callable[[str, int], "Decision | SkipReason"]
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
) -> tuple[str | None, Decision | SkipReason]:
    """A member's repo-relative path (None when it has none) and what to do with it."""
    if member.isdir():
        return None, Decision.IGNORE
    if not is_valid_name(member.name):
        return None, SkipReason.BAD_NAME
    if not is_safe_relative_path(member.name):
        return None, SkipReason.UNSAFE
    path = _strip_top(member.name)
    if path is None:
        return None, Decision.IGNORE
    decision = select(path, member.size)
    if decision is not Decision.READ:
        return path, decision
    return path, _member_problem(member, max_file_bytes) or Decision.READ


@contextmanager
def _open_tar_gz(archive: Path, byte_limit: int) -> Iterator[tarfile.TarFile]:
    """A streaming reader of a .tar.gz that raises ArchiveOverBudget past `byte_limit` uncompressed bytes."""
    with archive.open("rb") as raw, gzip.GzipFile(fileobj=raw) as unzipped:
        reader = _CountingReader(unzipped, byte_limit)
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            yield tar


def scan_archive(
    archive: Path, store: ExtractedStore, select: Selector, budget: ArchiveBudget, max_file_bytes: int, listing: bool
) -> ArchiveScan:
    """Stream through a .tar.gz once, keeping the members `select` wants. Runs in a worker thread.

    Raises ArchiveOverBudget past the budget's bytes or files (members other than folders).

    With `listing`, every kept member becomes a FileEntry (blob SHA computed from its bytes) and
    skipped members are counted; otherwise only wanted paths matter and problems with them are
    recorded in `store.rejected` so they are neither yielded nor fetched another way.
    """
    scan = ArchiveScan()
    counts: dict[SkipReason, int] = {}
    files = 0
    with _open_tar_gz(archive, budget.byte_limit) as tar:
        for member in tar:
            files += not member.isdir()
            if files > budget.max_files:
                raise ArchiveOverBudget(budget.too_many_files())
            path, outcome = _classify(member, select, max_file_bytes)
            if isinstance(outcome, SkipReason):
                if path is not None:
                    store.rejected[path] = outcome
                counts[outcome] = counts.get(outcome, 0) + 1
            elif outcome is Decision.READ and path is not None:
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
                store.put(path, data)
                if listing:
                    scan.entries.append(FileEntry(path, git_blob_sha(data), len(data)))
    if listing:
        scan.skipped = skip_counts(counts)
    return scan


def skip_counts(counts: Mapping[SkipReason, int]) -> SkipCounts:
    return SkipCounts(
        binary=counts.get(SkipReason.BINARY, 0),
        too_large=counts.get(SkipReason.TOO_LARGE, 0),
        unsafe=counts.get(SkipReason.UNSAFE, 0),
        filtered=counts.get(SkipReason.FILTERED, 0),
        bad_name=counts.get(SkipReason.BAD_NAME, 0),
    )


class ArchiveDownloader:
    """Downloads `tarball/{commit}` into a folder of its own and extracts the wanted members."""

    def __init__(self, http: GitHubHttp, folder: ExtractionFolder, max_file_bytes: int) -> None:
        self._http = http
        self._folder = folder
        self._max_file_bytes = max_file_bytes

    async def download_and_scan(
        self, repo: Repo, commit: str, select: Selector, budget: ArchiveBudget, listing: bool, note: StageNote
    ) -> tuple[ExtractedStore, ArchiveScan]:
        """The members `select` keeps, extracted into a store the caller closes, and what was listed.

        Nothing stays extracted when it fails, whatever the failure.
        """
        folder = await asyncio.to_thread(self._folder.new_job_folder)
        store = ExtractedStore(folder)
        archive = folder / "archive.tar.gz"
        name = f"{repo.full_name}@{commit[:7]}"
        try:
            await self._download(repo, commit, archive, budget, note)
            scan = await asyncio.to_thread(scan_archive, archive, store, select, budget, self._max_file_bytes, listing)
        except ArchiveOverBudget as e:
            await asyncio.to_thread(store.close)
            raise InvalidInput(f"the archive of {name} {str(e) or budget.too_many_bytes()}") from None
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            await asyncio.to_thread(store.close)
            raise UpstreamUnavailable(f"the archive GitHub sent for {name} is unreadable ({type(e).__name__})") from e
        except BaseException:
            store.close()
            raise
        archive.unlink(missing_ok=True)
        return store, scan

    async def _download(self, repo: Repo, commit: str, target: Path, budget: ArchiveBudget, note: StageNote) -> None:
        """Stream `tarball/{commit}` (GitHub answers with a redirect) into `target`."""
        with target.open("wb") as out:

            async def sink(response: httpx.Response) -> None:
                out.seek(0)
                out.truncate()  # a retried download starts over
                size = 0
                async for part in response.aiter_bytes(1 << 16):
                    size += len(part)
                    if size > budget.byte_limit:
                        raise ArchiveOverBudget
                    out.write(part)

            await self._http.get(repo, repo.api_path(f"tarball/{commit}"), note, accept=JSON_MEDIA, sink=sink)
