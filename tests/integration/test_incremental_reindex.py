"""Incremental re-index of a real folder into embedded Chroma: exactly what changed is redone."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from adapters.data_dir_lock import DataDirLock
from adapters.embeddings.hashing import HashingEmbedder
from adapters.keyword.tantivy_index import TantivyKeywordIndex
from adapters.sources.local_folder import LocalFolderSource
from adapters.vectorstore.chroma_client import open_embedded_chroma
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from application.indexing import IndexRepository
from application.search import SearchDocuments, SearchRequest
from domain.jobs import IndexRequest
from entrypoints.source_input import source_spec


class CountingEmbedder(HashingEmbedder):
    """The real hashing embedder, remembering every document text it embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return await super().embed_documents(texts)


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


async def test_change_delete_add_reembed_exactly_the_changes(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write(folder, {
        "guide/install.md": "# Install\n\nUse pip to install the aardvark package.\n",
        "guide/usage.md": "# Usage\n\nCall the badger function.\n",
        "reference/api.md": "# API\n\nThe cormorant endpoint.\n",
        "logo.png": "not really a png",
        "node_modules/dep/readme.md": "# vendored\n",
    })  # fmt: skip
    (folder / "blob.md").write_bytes(b"# binary\0\0\0")
    lock = DataDirLock(tmp_path / "state", "test")
    lock.acquire()
    client = open_embedded_chroma(tmp_path / "state", lock)
    embedder, index, manifests = CountingEmbedder(), ChromaVectorIndex(client), ChromaManifestStore(client)
    indexer = IndexRepository([LocalFolderSource()], embedder, index, manifests)
    search = SearchDocuments(embedder, index, manifests, TantivyKeywordIndex(index))
    request = IndexRequest(source_spec(str(folder)))

    first = await indexer.execute(request)
    assert (first.files_indexed, first.files_skipped) == (3, 3)
    assert first.skipped.binary == 1 and first.skipped.filtered == 2

    embedder.texts.clear()
    write(folder, {"guide/usage.md": "# Usage\n\nCall the dingo function.\n", "guide/new.md": "# New\n\nAn emu.\n"})
    (folder / "reference/api.md").unlink()
    second = await indexer.execute(request)

    assert sorted(t.split(":")[0] for t in embedder.texts) == ["guide/new.md", "guide/usage.md"]
    assert (second.files_indexed, second.files_unchanged, second.files_deleted) == (2, 1, 1)
    assert second.chunks_deleted == 2 and second.embedding_calls == 1

    async def paths_for(query: str) -> list[str]:
        return [h.chunk.path for h in (await search.execute(SearchRequest(query, k=10))).hits]

    assert (await paths_for("dingo function"))[0] == "guide/usage.md"
    assert "reference/api.md" not in await paths_for("cormorant endpoint")
    hits = (await search.execute(SearchRequest("badger dingo", k=10))).hits
    assert all("badger" not in h.chunk.text for h in hits)
    assert (await paths_for("emu"))[0] == "guide/new.md"

    embedder.texts.clear()
    third = await indexer.execute(request)
    assert third.embedding_calls == 0 and embedder.texts == []
    lock.release()


async def test_searching_gives_permanent_file_citations(tmp_path: Path, corpus: Path) -> None:
    lock = DataDirLock(tmp_path, "test")
    lock.acquire()
    client = open_embedded_chroma(tmp_path, lock)
    embedder, index, manifests = HashingEmbedder(), ChromaVectorIndex(client), ChromaManifestStore(client)
    spec = source_spec(str(corpus / "tutorial"), include=["query-params*.md"])
    await IndexRepository([LocalFolderSource()], embedder, index, manifests).execute(IndexRequest(spec))
    hits = (
        await SearchDocuments(embedder, index, manifests, TantivyKeywordIndex(index)).execute(
            SearchRequest("optional query parameters")
        )
    ).hits
    assert hits and all(h.chunk.path.startswith("query-params") for h in hits)
    top = hits[0].chunk
    assert top.url == f"{(corpus / 'tutorial').resolve().as_uri()}/{top.path}#L{top.start_line}-L{top.end_line}"
    lines = (corpus / "tutorial" / top.path).read_text().splitlines()
    assert top.text == "\n".join(lines[top.start_line - 1 : top.end_line])
    lock.release()


def write_bytes_name(folder: Path, name: bytes, content: bytes) -> None:
    """A file whose name is bytes (os.fsencode), as a filesystem allows and a str cannot say."""
    with open(os.path.join(os.fsencode(folder), name), "wb") as file:
        file.write(content)


async def test_a_file_name_that_is_not_utf8_is_skipped_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write(folder, {"guide.md": "# Guide\n\nThe heron.\n", "other.md": "# Other\n\nThe egret.\n"})
    write_bytes_name(folder, b"bad\xff\xfename.md", b"# Bad name\n")
    lock = DataDirLock(tmp_path / "state", "test")
    lock.acquire()
    client = open_embedded_chroma(tmp_path / "state", lock)
    indexer = IndexRepository(
        [LocalFolderSource()], HashingEmbedder(), ChromaVectorIndex(client), ChromaManifestStore(client)
    )

    result = await indexer.execute(IndexRequest(source_spec(str(folder))))

    assert (result.files_indexed, result.files_skipped, result.skipped.bad_name) == (2, 1, 1)
