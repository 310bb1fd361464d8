"""Read lines of a file exactly as it was indexed, so a cited passage can be widened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from application.access import RepositoryAccess
from application.indexing import pick_source
from application.ports.sources import DocumentSource, SourceVersion
from application.ports.stores import ManifestStore
from domain.access import LOCAL_USER, Caller
from domain.answers import citation_url
from domain.documents import FileEntry, Manifest
from domain.errors import InvalidInput, NotFound
from domain.refs import RefChoice, not_indexed_at
from domain.sources import spec_of_description

MAX_LINES = 2000
"""Lines one read may return; ask for a range to read further."""


@dataclass(frozen=True)
class ReadFileRequest:
    repository: str
    path: str
    start_line: int = 1
    end_line: int | None = None
    """Inclusive; None reads to the end of the file (at most MAX_LINES lines)."""
    collection: str | None = None
    """None: the first collection (by name) that holds the repository."""
    ref: str | None = None
    """The ref whose version is read, as in SearchRequest (None: the default branch, else the ref indexed last)."""
    caller: Caller = LOCAL_USER
    """Who reads: a repository it may not see is not indexed, to it."""


@dataclass(frozen=True)
class FileExcerpt:
    repository: str
    path: str
    commit: str
    start_line: int
    end_line: int
    total_lines: int
    text: str
    url: str


class ReadIndexedFile:
    """The lines of the version the live manifest names: a GitHub blob by its SHA, a local file
    only while its content is still the indexed one."""

    def __init__(
        self, sources: Sequence[DocumentSource], manifests: ManifestStore, access: RepositoryAccess | None = None
    ) -> None:
        self._sources = sources
        self._manifests = manifests
        self._access = access or RepositoryAccess()

    async def execute(self, request: ReadFileRequest) -> FileExcerpt:
        if request.start_line < 1 or (request.end_line is not None and request.end_line < request.start_line):
            raise InvalidInput("start_line must be 1 or more, and end_line not before it")
        manifest = await self._manifest(request)
        path = request.path.strip().lstrip("/")
        blob_sha = manifest.files.get(path)
        if blob_sha is None:
            raise NotFound(f"{path!r} is not a file indexed in {manifest.repository!r}")
        lines = (await self._text(manifest, FileEntry(path, blob_sha, 0))).splitlines()
        if request.start_line > max(1, len(lines)):
            raise InvalidInput(f"{path} has {len(lines)} lines; start_line {request.start_line} is past its end")
        last = min(len(lines), request.end_line or len(lines), request.start_line + MAX_LINES - 1)
        start = request.start_line
        return FileExcerpt(
            repository=manifest.repository,
            path=path,
            commit=manifest.commit,
            start_line=start,
            end_line=last,
            total_lines=len(lines),
            text="\n".join(lines[start - 1 : last]),
            url=citation_url(manifest.web_url, manifest.commit, path, start, last),
        )

    async def _manifest(self, request: ReadFileRequest) -> Manifest:
        """The manifest read: of the collection asked for, else of the first (by name) indexed at the ref."""
        choice = RefChoice.of(request.ref)
        entries = [
            (c, m) for c, m in await self._manifests.entries(request.collection) if m.repository == request.repository
        ]
        by_collection: dict[str, list[Manifest]] = {}
        for collection, manifest in await self._access.manifests(request.caller, entries, request.repository):
            by_collection.setdefault(collection, []).append(manifest)
        if not by_collection:
            raise NotFound(f"repository {request.repository!r} is not indexed")
        for collection in sorted(by_collection):
            picked = choice.pick(by_collection[collection])
            if picked is not None:
                return picked
        indexed = [m for found in by_collection.values() for m in found]
        raise not_indexed_at(f"repository {request.repository!r}", choice.ref, indexed)

    async def _text(self, manifest: Manifest, entry: FileEntry) -> str:
        spec = spec_of_description(manifest.source, manifest.ref, manifest.include, manifest.exclude)
        version = SourceVersion(manifest.repository, manifest.commit, manifest.web_url, manifest.etag)
        async for file in pick_source(self._sources, spec).read(spec, version, [entry]):
            return file.text
        raise NotFound(
            f"{entry.path} is no longer readable as indexed (binary, or changed or removed since): "
            "index the repository again"
        )
