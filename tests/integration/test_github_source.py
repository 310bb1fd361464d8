"""GitHubArchiveSource over real HTTP against a fake GitHub backed by real git repositories.

Each test drives the real IndexRepository use case with the hashing embedder and an embedded
Chroma in tmp_path, and looks at what the adapter asked the server for.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import logging
import os
import random
import subprocess
import sys
import tarfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chromadb
import httpx
import pytest
import pytest_asyncio
from chromadb.config import Settings as ChromaSettings

from adapters.embeddings.hashing import HashingEmbedder
from adapters.keyword.tantivy_index import TantivyKeywordIndex
from adapters.sources.github import GitHubArchiveSource
from adapters.sources.github.extraction import ExtractionFolder
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from application.indexing import IndexRepository
from application.repositories import ForgetRepository
from application.search import SearchDocuments, SearchRequest
from domain.answers import SearchHit
from domain.documents import Manifest, SkipCounts, chunk_id
from domain.errors import AccessDenied, InvalidInput, NotFound, RateLimited, UpstreamUnavailable
from domain.jobs import IndexRequest, IndexResult, Progress
from domain.sources import SourceSpec, parse_source
from tests.integration.fake_github import Canned, FakeGitHub, GitRepo, rate_limited, retry_after, server_error

pytestmark = pytest.mark.asyncio

TOKEN = "ghp_SECRETtoken1234567890abcdefABCDEF"
MAX_FILE = 50_000
GUIDES = 25
INDEXED = GUIDES + 2  # the guides, README.md, src/app.py
RECORDED = INDEXED + 1  # + docs/blob.md: in the manifest with no chunks
NOW = 1_700_000_000.0


def repo_files() -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {
        "README.md": "# Demo\n\nDemo explains widgets and gadgets.\n",
        "src/app.py": "def main() -> int:\n    return 42\n",
        "docs/logo.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",  # filtered: not a text suffix
        "docs/blob.md": b"\0\1\2\3 binary disguised as markdown",  # binary: read but not yielded
        "node_modules/pkg/index.js": "module.exports = 1;\n",  # filtered: default exclusion
        "docs/huge.md": "# Huge\n\n" + "word " * (MAX_FILE // 5),  # too large
    }
    for i in range(GUIDES):
        files[f"docs/guide-{i}.md"] = (
            f"# Guide {i}\n\nThe keyword marker{i} is explained here.\n\n## More\n\nText {i}.\n"
        )
    return files


EXPECTED_SKIPS = SkipCounts(binary=0, too_large=1, unsafe=1, filtered=2)
"""What the listing skips (the symlink is unsafe); docs/blob.md is found binary when read."""
BINARY = "docs/blob.md"
"""Listed (text suffix), read, found binary. The use case records it in the manifest with no
chunks, so a later sync fetches it again only when its blob changes."""


class Stages:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def report(self, stage: str, _progress: Progress) -> None:
        if not self.seen or self.seen[-1] != stage:
            self.seen.append(stage)


@dataclass
class Rig:
    gh: FakeGitHub
    repo: GitRepo
    client: httpx.AsyncClient
    chroma: Any
    temp: Path
    embedder: HashingEmbedder = field(default_factory=HashingEmbedder)
    sleeps: list[float] = field(default_factory=list)
    stages: Stages = field(default_factory=Stages)

    def __post_init__(self) -> None:
        self.vectors = ChromaVectorIndex(self.chroma)
        self.manifests = ChromaManifestStore(self.chroma)
        self.source = self.make_source()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def make_source(self, **overrides: Any) -> GitHubArchiveSource:
        options: dict[str, Any] = {
            "api_url": self.gh.api_url,
            "sleep": self.sleep,
            "clock": lambda: NOW,
            "max_file_bytes": MAX_FILE,
            "extract_dir": self.temp,
            "rng": random.Random(7),
            **overrides,
        }
        return GitHubArchiveSource(self.client, **options)

    async def index(
        self,
        text: str = "owner/demo",
        source: GitHubArchiveSource | None = None,
        collection: str = "default",
        exclude: tuple[str, ...] = (),
    ) -> IndexResult:
        self.gh.forget_requests()
        self.stages = Stages()
        use_case = IndexRepository([source or self.source], self.embedder, self.vectors, self.manifests)
        return await use_case.execute(IndexRequest(parse_source(text, exclude=exclude), collection), self.stages)

    async def manifest(self, repository: str = "owner/demo", collection: str = "default") -> Manifest | None:
        return next((m for _, m in await self.manifests.entries(collection) if m.repository == repository), None)

    async def search(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        return [(hit.chunk.path, hit.chunk.url) for hit in await self.hits(query, k)]

    async def hits(self, query: str, k: int = 50) -> list[SearchHit]:
        search = SearchDocuments(self.embedder, self.vectors, self.manifests, TantivyKeywordIndex(self.vectors))
        return (await search.execute(SearchRequest(query, k))).hits

    async def stored_chunks(self, path: str, blob_sha: str) -> set[str]:
        """Ids of the stored chunks of one file version (ids are deterministic)."""
        ids = [chunk_id("owner/demo", path, blob_sha, ordinal) for ordinal in range(10)]
        return await self.vectors.existing_ids("default", ids)

    def api_paths(self) -> list[str]:
        return [path.removeprefix("/repos/owner/demo") or "/" for path in self.gh.paths()]

    def blobs_fetched(self) -> set[str]:
        return {path.rsplit("/", 1)[-1] for path in self.api_paths() if path.startswith("/git/blobs/")}

    def blob_of(self, *paths: str) -> set[str]:
        return {self.repo.git("rev-parse", f"HEAD:{path}").decode().strip() for path in paths}


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "git") as server:
        yield server


@pytest_asyncio.fixture
async def rig(gh: FakeGitHub, tmp_path: Path) -> AsyncIterator[Rig]:
    repo = gh.create_repo("owner", "demo", repo_files())
    repo.symlink("docs/link.md", "../README.md")
    repo.commit("add a symlink")
    temp = tmp_path / "temp"
    temp.mkdir()
    chroma = chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    async with httpx.AsyncClient(timeout=10) as client:
        yield Rig(gh, repo, client, chroma, temp)


# -- full index and incremental syncs


def full_index_paths(head: str) -> list[str]:
    """The requests of a full index of owner/demo at commit `head`: the repository, its branch, its
    tree, and the one archive (a redirect to codeload)."""
    return [
        "/",
        "/commits/main",
        f"/git/trees/{head}",
        f"/tarball/{head}",
        f"/_codeload/owner/demo/legacy.tar.gz/{head}",
    ]


async def test_a_full_index_downloads_one_archive_and_few_api_calls(rig: Rig) -> None:
    result = await rig.index()

    head = rig.repo.head()
    assert rig.api_paths() == full_index_paths(head)
    assert result.files_indexed == INDEXED
    assert result.skipped == EXPECTED_SKIPS
    assert result.files_skipped == EXPECTED_SKIPS.total + 1  # + docs/blob.md, binary
    assert result.commit == head
    assert result.embedding_calls >= 1
    assert f"fetching {RECORDED} files (archive)" in rig.stages.seen  # every listed file, the binary one too
    manifest = await rig.manifest()
    assert manifest is not None
    assert manifest.web_url == "https://github.com/owner/demo"
    assert manifest.etag and manifest.commit == head
    assert sorted(manifest.files) == sorted(
        ["README.md", "src/app.py", BINARY] + [f"docs/guide-{i}.md" for i in range(GUIDES)]
    )
    assert manifest.chunk_counts[BINARY] == 0 and manifest.chunk_counts["README.md"] > 0
    assert is_empty(rig.temp)  # the archive and extracted files are gone


async def test_requests_carry_the_api_headers_and_no_authorization_without_a_token(rig: Rig) -> None:
    await rig.index()

    first = rig.gh.requests[0]
    assert first.headers["user-agent"] == "repochat"
    assert first.headers["x-github-api-version"] == "2022-11-28"
    assert all("authorization" not in r.headers for r in rig.gh.requests)
    assert rig.gh.requests[1].headers["accept"] == "application/vnd.github.sha"


async def test_citations_point_at_the_indexed_commit(rig: Rig) -> None:
    await rig.index()

    urls = [url for path, url in await rig.search("marker7") if path == "docs/guide-7.md"]
    assert urls and urls[0].startswith(f"https://github.com/owner/demo/blob/{rig.repo.head()}/docs/guide-7.md#L")


async def test_a_no_change_resync_costs_two_requests_and_no_embedding(rig: Rig) -> None:
    await rig.index()

    result = await rig.index()

    assert rig.api_paths() == ["/", "/commits/main"]
    conditional = rig.gh.requests[1]
    assert conditional.headers["if-none-match"] == (await rig.manifest() or Manifest("", "", "")).etag
    assert conditional.status == 304
    assert result.embedding_calls == 0 and result.chunks_written == 0
    assert result.files_unchanged == RECORDED
    assert result.commit == rig.repo.head()


async def test_a_no_change_resync_of_an_explicit_ref_costs_one_request(rig: Rig) -> None:
    await rig.index("github:owner/demo@main")

    result = await rig.index("github:owner/demo@main")

    assert rig.api_paths() == ["/commits/main"]
    assert result.embedding_calls == 0


async def test_same_commit_without_etag_match_is_unchanged_too(rig: Rig) -> None:
    await rig.index()
    rig.repo.tag("v1")

    result = await rig.index("github:owner/demo@v1")  # another ref: no If-None-Match, same commit

    assert "if-none-match" not in rig.gh.requests[0].headers
    assert rig.api_paths() == ["/commits/v1"]
    assert result.embedding_calls == 0 and result.files_unchanged == RECORDED


async def test_new_filters_list_again_at_the_same_commit(rig: Rig) -> None:
    await rig.index()
    excluded = ["docs/guide-1.md"] + [f"docs/guide-{i}.md" for i in range(10, 20)]

    result = await rig.index(exclude=("**/guide-1*.md",))

    head = rig.repo.head()
    assert "if-none-match" not in rig.gh.requests[1].headers  # the old ETag would answer 304
    assert rig.api_paths() == ["/", "/commits/main", f"/git/trees/{head}"]  # listed again, nothing to fetch
    assert (result.files_deleted, result.files_unchanged, result.embedding_calls) == (11, RECORDED - 11, 0)
    assert result.skipped.filtered == EXPECTED_SKIPS.filtered + 11
    manifest = await rig.manifest()
    assert manifest is not None and manifest.exclude == ("**/guide-1*.md",) and manifest.commit == head
    assert not set(excluded) & set(manifest.files)
    assert await rig.stored_chunks("docs/guide-1.md", *rig.blob_of("docs/guide-1.md")) == set()

    await rig.index(exclude=("**/guide-1*.md",))

    assert rig.api_paths() == ["/", "/commits/main"]  # same filters, same commit: unchanged


async def test_one_changed_file_is_fetched_as_a_blob_and_only_its_chunks_are_embedded(rig: Rig) -> None:
    await rig.index()
    (old_blob,) = rig.blob_of("docs/guide-3.md")
    assert len(await rig.stored_chunks("docs/guide-3.md", old_blob)) == 2
    rig.repo.commit("edit", {"docs/guide-3.md": "# Guide 3\n\nNow about pelicans.\n"})

    result = await rig.index()

    head = rig.repo.head()
    assert rig.api_paths()[:3] == ["/", "/commits/main", f"/git/trees/{head}"]
    assert len(rig.api_paths()) == 4 and rig.blobs_fetched() == rig.blob_of("docs/guide-3.md")  # not the binary
    assert rig.gh.requests[3].headers["accept"] == "application/vnd.github.raw"
    assert (result.files_indexed, result.files_unchanged, result.files_deleted) == (1, RECORDED - 1, 0)
    assert result.files_skipped == EXPECTED_SKIPS.total  # the unchanged binary is not read, so not counted again
    assert result.chunks_written == 1 and result.embedding_calls == 1
    assert result.chunks_deleted == 2  # the old version's two sections
    assert "fetching 1 files (one request per file)" in rig.stages.seen
    assert (await rig.search("pelicans"))[0] == (  # the only file with that word
        "docs/guide-3.md",
        f"https://github.com/owner/demo/blob/{head}/docs/guide-3.md#L1-L3",
    )
    assert await rig.stored_chunks("docs/guide-3.md", old_blob) == set()
    assert not any("marker3" in hit.chunk.text for hit in await rig.hits("marker3"))


async def test_many_changed_files_use_the_archive_again(rig: Rig) -> None:
    await rig.index()
    rig.repo.commit("edit all", {f"docs/guide-{i}.md": f"# Guide {i}\n\nRewritten {i}.\n" for i in range(GUIDES)})

    result = await rig.index()

    assert result.files_indexed == GUIDES
    assert not any("/git/blobs/" in p for p in rig.api_paths())
    assert sum("/tarball/" in p for p in rig.api_paths()) == 1
    assert f"fetching {GUIDES} files (archive)" in rig.stages.seen  # not the unchanged binary
    assert result.files_unchanged == RECORDED - GUIDES


async def test_a_deleted_file_disappears(rig: Rig) -> None:
    await rig.index()
    (blob,) = rig.blob_of("docs/guide-4.md")
    assert any("marker4" in hit.chunk.text for hit in await rig.hits("marker4"))
    rig.repo.delete("docs/guide-4.md")
    rig.repo.commit("delete")

    result = await rig.index()

    assert (result.files_deleted, result.files_indexed, result.embedding_calls) == (1, 0, 0)
    assert result.chunks_deleted == 2
    assert rig.api_paths() == ["/", "/commits/main", f"/git/trees/{rig.repo.head()}"]  # no content fetched
    assert result.files_unchanged == RECORDED - 1
    assert not any("marker4" in hit.chunk.text for hit in await rig.hits("marker4"))
    assert await rig.stored_chunks("docs/guide-4.md", blob) == set()
    assert "docs/guide-4.md" not in ((await rig.manifest()) or Manifest("", "", "")).files


async def test_a_renamed_file_is_found_under_its_new_path_only(rig: Rig) -> None:
    await rig.index()
    (blob,) = rig.blob_of("docs/guide-5.md")
    rig.repo.rename("docs/guide-5.md", "handbook/chapter-5.md")
    rig.repo.commit("rename")

    result = await rig.index()

    assert (result.files_indexed, result.files_deleted) == (1, 1)
    assert rig.blobs_fetched() == rig.blob_of("handbook/chapter-5.md")
    assert rig.blob_of("handbook/chapter-5.md") == {blob}  # same content, new path
    assert [hit.chunk.path for hit in await rig.hits("marker5") if "marker5" in hit.chunk.text] == [
        "handbook/chapter-5.md"
    ]
    assert await rig.stored_chunks("docs/guide-5.md", blob) == set()


async def test_a_tag_and_a_commit_sha_as_ref(rig: Rig) -> None:
    old = rig.repo.head()
    rig.repo.tag("v1.0")
    rig.repo.commit("later", {"docs/guide-0.md": "# Guide 0\n\nChanged after the tag.\n"})

    by_tag = await rig.index("github:owner/demo@v1.0")
    assert rig.api_paths()[0] == "/commits/v1.0"
    assert f"/tarball/{old}" in rig.api_paths()
    by_sha = await rig.index(f"https://github.com/owner/demo/tree/{old}", collection="pinned")
    assert rig.api_paths()[0] == f"/commits/{old}"

    assert by_tag.commit == old == by_sha.commit
    manifest = await rig.manifest(collection="pinned")
    assert manifest is not None and manifest.ref == old and manifest.commit == old


async def test_a_branch_with_a_slash(rig: Rig) -> None:
    rig.repo.branch("feature/new-docs")

    result = await rig.index("github:owner/demo@feature/new-docs")

    assert rig.api_paths()[0] == "/commits/feature/new-docs"
    assert result.commit == rig.repo.head()


async def test_a_subdir_lists_only_its_files_with_paths_from_the_repository_root(rig: Rig) -> None:
    rig.repo.commit("handbook", {"handbook/intro.md": "# Intro\n\nHandbook keyword albatross.\n"})

    result = await rig.index("https://github.com/owner/demo/tree/main/handbook")

    assert result.files_indexed == 1
    manifest = await rig.manifest("owner/demo/handbook")
    assert manifest is not None and list(manifest.files) == ["handbook/intro.md"]
    _path, url = (await rig.search("albatross"))[0]
    assert url.startswith(f"https://github.com/owner/demo/blob/{rig.repo.head()}/handbook/intro.md#L1")


async def test_enterprise_web_url_is_used_for_citations(rig: Rig) -> None:
    source = rig.make_source(web_url="https://ghe.example.com/")

    snapshot = await source.snapshot(parse_source("owner/demo"), None)

    assert snapshot.version.web_url == "https://ghe.example.com/owner/demo"
    assert snapshot.version.repository == "owner/demo"
    await source.aclose()


async def test_include_and_exclude_filters(rig: Rig) -> None:
    spec = parse_source("owner/demo", include=("docs/**",), exclude=("**/guide-1*.md",))

    snapshot = await rig.source.snapshot(spec, None)

    assert snapshot.files is not None
    paths = {entry.path for entry in snapshot.files}
    assert "README.md" not in paths and "docs/guide-1.md" not in paths and "docs/guide-10.md" not in paths
    assert "docs/guide-2.md" in paths and "docs/blob.md" in paths
    await rig.source.aclose()


# -- authentication


async def test_a_private_repository_without_a_token_is_not_found(rig: Rig) -> None:
    rig.gh.hosted("owner", "demo").private = True

    with pytest.raises(NotFound) as error:
        await rig.index()

    assert "owner/demo not found or no access (set GITHUB_TOKEN" in error.value.message


async def test_a_private_repository_with_a_token(rig: Rig) -> None:
    rig.gh.hosted("owner", "demo").private = True
    rig.gh.tokens.add(TOKEN)

    result = await rig.index(source=rig.make_source(token=TOKEN))

    assert result.files_indexed == INDEXED
    api_requests = [r for r in rig.gh.requests if r.path.startswith("/repos/")]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api_requests)


async def test_a_bad_token_is_access_denied_and_never_echoed(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    with pytest.raises(AccessDenied) as error:
        await rig.index(source=rig.make_source(token=TOKEN))

    assert "401" in error.value.message and "GITHUB_TOKEN" in error.value.message
    assert_secret_free(error.value, caplog)


async def test_an_unreachable_github_never_echoes_the_token(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    source = rig.make_source(token=TOKEN, api_url="http://127.0.0.1:9", max_attempts=2)

    with pytest.raises(UpstreamUnavailable) as error:
        await rig.index(source=source)

    assert "could not be reached" in error.value.message and "2 times" in error.value.message
    assert isinstance(error.value.__cause__, httpx.TransportError)
    assert len(rig.sleeps) == 1
    assert_secret_free(error.value, caplog)


def is_empty(folder: Path) -> bool:
    """Nothing extracted is left: at most the extraction folders' lock files and empty folders."""
    return not any(path.is_file() and path.suffix != ".lock" for path in folder.rglob("*"))


def nothing_escaped(tmp_path: Path, temp: Path) -> bool:
    written = [Path("/tmp/absolute-evil.md"), tmp_path / "escape.md", temp.parent / "escape.md", temp / "escape.md"]
    return not any(path.exists() for path in written) and is_empty(temp)


def assert_secret_free(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    chain: BaseException | None = error
    while chain is not None:
        assert TOKEN not in str(chain) and TOKEN not in repr(chain)
        chain = chain.__cause__ or chain.__context__
    assert TOKEN not in caplog.text


# -- rate limits and failures


async def test_a_rate_limit_is_waited_out_until_its_reset(rig: Rig) -> None:
    rig.gh.inject(r"/commits/", rate_limited(int(NOW) + 120))

    result = await rig.index()

    assert rig.sleeps == [121.0]
    until = datetime.fromtimestamp(NOW + 121, UTC).strftime("%H:%M:%S")
    assert f"waiting for GitHub rate limit until {until} UTC" in rig.stages.seen
    assert result.files_indexed == INDEXED
    assert [r.status for r in rig.gh.requests[:3]] == [200, 403, 200]


async def test_a_rate_limit_beyond_the_longest_wait_fails_clearly(rig: Rig) -> None:
    rig.gh.inject(r"/commits/", rate_limited(int(NOW) + 3600))

    with pytest.raises(RateLimited) as error:
        await rig.index(source=rig.make_source(max_rate_limit_wait=900))

    assert rig.sleeps == []
    assert "rate limit" in error.value.message and "GITHUB_TOKEN" in error.value.message


async def test_429_honours_retry_after(rig: Rig) -> None:
    rig.gh.inject(r"/git/trees/", retry_after(7))

    result = await rig.index()

    assert rig.sleeps == [7.0]
    assert result.files_indexed == INDEXED


async def test_a_plain_403_is_access_denied(rig: Rig) -> None:
    rig.gh.inject(r"/git/trees/", Canned(403, {}, {"message": "Resource not accessible by integration"}))

    with pytest.raises(AccessDenied, match="Resource not accessible by integration"):
        await rig.index()
    assert rig.sleeps == []


async def test_server_errors_are_retried_with_backoff(rig: Rig) -> None:
    rig.gh.inject(r"/tarball/", server_error(502), server_error(503))

    result = await rig.index()

    assert result.files_indexed == INDEXED
    assert len(rig.sleeps) == 2
    assert 0.5 <= rig.sleeps[0] <= 1.0 and 1.0 <= rig.sleeps[1] <= 2.0  # exponential, with jitter
    assert sum("/_codeload/" in p for p in rig.api_paths()) == 1


async def test_server_errors_that_persist_become_upstream_unavailable(rig: Rig) -> None:
    rig.gh.inject(r"/commits/", forever=server_error(503))

    with pytest.raises(UpstreamUnavailable) as error:
        await rig.index()

    assert error.value.message == (
        "GitHub answered 503 to GET /repos/owner/demo/commits/main 5 times in a row; try again later"
    )
    assert len(rig.sleeps) == 4
    assert rig.sleeps == sorted(rig.sleeps)
    assert await rig.manifest() is None


async def test_unknown_repository_and_unknown_ref(rig: Rig) -> None:
    with pytest.raises(NotFound, match="owner/nothing not found or no access"):
        await rig.index("owner/nothing")
    with pytest.raises(NotFound, match="ref 'no-such-tag' not found in GitHub repository owner/demo"):
        await rig.index("github:owner/demo@no-such-tag")


async def test_an_invalid_spec_is_rejected_before_any_request(rig: Rig) -> None:
    with pytest.raises(InvalidInput, match="accepted forms: owner/repo, github:owner/repo"):
        await rig.index("https://gitlab.com/owner/demo")
    with pytest.raises(InvalidInput):
        await rig.source.snapshot(SourceSpec(parse_source("o/r").kind, "no-slash"), None)
    assert rig.gh.requests == []


# -- archives: truncated trees, hostile content


async def test_a_truncated_tree_is_listed_from_the_archive(rig: Rig) -> None:
    reference = await rig.source.snapshot(parse_source("owner/demo"), None)
    await rig.source.aclose()
    rig.gh.hosted("owner", "demo").truncate_tree = True

    result = await rig.index()

    head = rig.repo.head()
    assert rig.api_paths() == full_index_paths(head)
    assert "listing files from the archive (the tree is too large for one API call)" in rig.stages.seen
    assert result.files_indexed == INDEXED and result.skipped == EXPECTED_SKIPS
    manifest = await rig.manifest()
    assert manifest is not None and reference.files is not None
    assert dict(manifest.files) == {e.path: e.blob_sha for e in reference.files}  # SHAs computed from the archive
    assert manifest.chunk_counts[BINARY] == 0
    assert is_empty(rig.temp)


def tarball(members: Sequence[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue(), compresslevel=6)


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size, info.mode = kind, link, size, 0o644
    return info


TOP = "owner-demo-abc1234/"


def hostile_members() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [
        (member(TOP, tarfile.DIRTYPE), None),
        (member(TOP + "README.md"), b"# Safe\n\nA safe readme about herons.\n"),
        (member(TOP + "../escape.md"), b"# Escaped\n"),
        (member("/tmp/absolute-evil.md"), b"# Absolute\n"),
        (member(TOP + "docs/link.md", tarfile.SYMTYPE, "/etc/passwd"), None),
        (member(TOP + "docs/hard.md", tarfile.LNKTYPE, TOP + "README.md"), None),
        (member(TOP + "docs/device.md", tarfile.CHRTYPE), None),
        (member(TOP + "docs/big.md"), b"# Big\n\n" + b"x" * MAX_FILE),
    ]


async def test_a_hostile_archive_is_skipped_and_counted(rig: Rig, tmp_path: Path) -> None:
    hosted = rig.gh.hosted("owner", "demo")
    hosted.truncate_tree = True  # so the archive is what lists the files
    hosted.tarball = tarball(hostile_members())

    result = await rig.index()

    assert result.skipped == SkipCounts(unsafe=5, too_large=1)
    assert result.files_indexed == 1
    manifest = await rig.manifest()
    assert manifest is not None and list(manifest.files) == ["README.md"]
    assert nothing_escaped(tmp_path, rig.temp)


async def test_archive_members_that_became_links_are_not_read(rig: Rig) -> None:
    """The tree says regular files; the archive has links in their place: nothing is read from them."""
    files = {f"docs/guide-{i}.md": f"# Guide {i}\n\nmarker{i}\n".encode() for i in range(2, GUIDES)}
    members: list[tuple[tarfile.TarInfo, bytes | None]] = [(member(TOP + p), data) for p, data in files.items()]
    members += [
        (member(TOP + "docs/guide-0.md", tarfile.SYMTYPE, "/etc/passwd"), None),
        (member(TOP + "docs/guide-1.md", tarfile.LNKTYPE, "/etc/shadow"), None),
    ]
    rig.gh.hosted("owner", "demo").tarball = tarball(members)

    result = await rig.index()

    # Files missing from the archive (as with `export-ignore`) are fetched one by one; links are not.
    assert rig.blobs_fetched() == rig.blob_of("README.md", "src/app.py", BINARY)
    manifest = await rig.manifest()
    assert manifest is not None
    # Recorded with no chunks, like any listed file that yielded no text: nothing of theirs is stored.
    assert manifest.chunk_counts["docs/guide-0.md"] == 0 and manifest.chunk_counts["docs/guide-1.md"] == 0
    for path in ("docs/guide-0.md", "docs/guide-1.md"):
        assert await rig.stored_chunks(path, *rig.blob_of(path)) == set()
    assert result.files_indexed == GUIDES - 2 + 2


async def test_a_decompression_bomb_is_stopped(rig: Rig) -> None:
    bomb: list[tuple[tarfile.TarInfo, bytes | None]] = [(member(TOP + "docs/guide-0.md"), bytes(40 << 20))]
    rig.gh.hosted("owner", "demo").tarball = tarball(bomb)

    with pytest.raises(InvalidInput, match=r"far more than the [\d,]+ bytes its tree listing promised") as refused:
        await rig.index()

    assert "decompression bomb" in refused.value.message
    assert await rig.manifest() is None
    assert is_empty(rig.temp)


async def test_an_archive_of_more_files_than_the_cap_is_refused_and_leaves_nothing(rig: Rig) -> None:
    hosted = rig.gh.hosted("owner", "demo")
    hosted.truncate_tree = True  # no listing to compare with
    hosted.tarball = tarball([(member(TOP + f"docs/n{i}.md"), b"# n\n") for i in range(100_000)])
    source = rig.make_source(max_archive_files=50_000)

    started = time.monotonic()
    with pytest.raises(InvalidInput) as refused:
        await rig.index(source=source)

    assert "holds more than 50,000 files" in refused.value.message
    assert "REPOCHAT_ARCHIVE_MAX_FILES" in refused.value.message
    assert time.monotonic() - started < 60
    assert await rig.manifest() is None
    assert is_empty(rig.temp)


async def test_a_bomb_without_a_listing_stops_at_the_absolute_cap_quickly(rig: Rig) -> None:
    hosted = rig.gh.hosted("owner", "demo")
    hosted.truncate_tree = True
    hosted.tarball = tarball([(member(TOP + "docs/guide-0.md"), bytes(256 << 20))])
    source = rig.make_source(max_archive_bytes=8 << 20)

    started = time.monotonic()
    with pytest.raises(InvalidInput) as refused:
        await rig.index(source=source)

    message = refused.value.message
    assert "expanded beyond 8,388,608 bytes, the most an archive without a complete tree listing" in message
    assert "REPOCHAT_ARCHIVE_MAX_BYTES" in message and "promised" not in message
    assert time.monotonic() - started < 10
    assert is_empty(rig.temp)


async def test_a_member_name_that_is_not_utf8_is_skipped_and_counted(rig: Rig) -> None:
    hosted = rig.gh.hosted("owner", "demo")
    hosted.truncate_tree = True
    hosted.tarball = tarball(
        [
            (member(TOP + "README.md"), b"# Safe\n\nA readme about herons.\n"),
            (member(TOP + os.fsdecode(b"docs/bad\xff\xfename.md")), b"# Bad name\n"),
            (member(TOP + "docs/good.md"), b"# Good\n\nAbout egrets.\n"),
        ]
    )

    result = await rig.index()

    assert result.skipped == SkipCounts(bad_name=1) and result.files_skipped == 1
    assert result.files_indexed == 2
    manifest = await rig.manifest()
    assert manifest is not None and sorted(manifest.files) == ["README.md", "docs/good.md"]
    assert is_empty(rig.temp)


class HeldAtEmbedding:
    """A progress reporter that holds the job once it starts writing batches (the archive is extracted)."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()

    async def report(self, stage: str, _progress: Progress) -> None:
        if stage == "embedding":
            self.reached.set()
            await asyncio.Event().wait()


async def test_a_cancelled_or_forgotten_job_leaves_nothing_extracted(rig: Rig) -> None:
    rig.gh.hosted("owner", "demo").truncate_tree = True  # listed from the archive, kept for the batches
    held = HeldAtEmbedding()
    use_case = IndexRepository([rig.source], rig.embedder, rig.vectors, rig.manifests)
    job = asyncio.create_task(use_case.execute(IndexRequest(parse_source("owner/demo")), held))
    await asyncio.wait_for(held.reached.wait(), 30)
    assert not is_empty(rig.temp)

    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job

    assert is_empty(rig.temp)
    await rig.index()
    await ForgetRepository(rig.manifests, rig.vectors).execute("owner/demo")
    assert is_empty(rig.temp)


KILLED_EXTRACTOR = """
import os, sys
from pathlib import Path
from adapters.sources.github.extraction import ExtractionFolder
folder = ExtractionFolder(Path(sys.argv[1])).new_job_folder()
(folder / "extracted").write_bytes(b"x" * 1000)
print(folder, flush=True)
sys.stdin.read()
"""


async def test_a_restart_removes_what_a_killed_process_left_and_keeps_live_ones(rig: Rig) -> None:
    root = rig.temp / "archives"
    alive = ExtractionFolder(root)  # another live process's folder (a lock file is per open file)
    live_folder = alive.new_job_folder()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    victim = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_EXTRACTOR, str(root), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    assert victim.stdout is not None
    left = Path((await victim.stdout.readline()).decode().strip())
    victim.kill()
    await victim.wait()
    assert not is_empty(left)

    restarted = rig.make_source(extract_dir=root)
    await restarted.open()

    assert existing(live_folder) and not existing(left)
    alive.release()
    await restarted.aclose()
    assert nothing_in(root)


def existing(path: Path) -> bool:
    return path.exists()


def nothing_in(folder: Path) -> bool:
    return not any(folder.iterdir())
