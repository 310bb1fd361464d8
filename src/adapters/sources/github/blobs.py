"""Reading files one `git/blobs/{sha}` request each, when too few are wanted for an archive."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence

from adapters.sources.github.http import RAW_MEDIA, Answer, GitHubHttp, Repo
from application.ports.sources import StageNote
from domain.documents import FileEntry
from domain.errors import UpstreamUnavailable

BLOB_CONCURRENCY = 8


class BlobReader:
    """Fetches blob contents, at most BLOB_CONCURRENCY requests at a time."""

    def __init__(self, http: GitHubHttp, max_file_bytes: int) -> None:
        self._http = http
        self._max_file_bytes = max_file_bytes

    async def read_many(self, repo: Repo, entries: Sequence[FileEntry], note: StageNote) -> dict[str, bytes | None]:
        """Contents by path; None for a blob too large to index."""
        gate = asyncio.Semaphore(BLOB_CONCURRENCY)

        async def fetch(entry: FileEntry) -> tuple[str, bytes | None]:
            async with gate:
                return entry.path, await self._blob(repo, entry, note)

        return dict(await asyncio.gather(*(fetch(e) for e in entries)))

    async def _blob(self, repo: Repo, entry: FileEntry, note: StageNote) -> bytes | None:
        """The blob's bytes (raw media type, or the base64 JSON form), None when too large."""
        path = repo.api_path(f"git/blobs/{entry.blob_sha}")
        answer = await self._http.get(repo, path, note, accept=RAW_MEDIA, max_body=self._max_file_bytes * 2)
        content = _blob_json_content(answer, entry.blob_sha)
        if content is None:
            content = answer.body
        return content if len(content) <= self._max_file_bytes else None


def _blob_json_content(answer: Answer, blob_sha: str) -> bytes | None:
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
