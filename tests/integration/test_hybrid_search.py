"""Hybrid search on real Chroma (embedded and `chroma run`): the keyword leg follows re-indexes.

Two replicas, each with its own keyword index and manifest store, share one Chroma: both derive
the same keyword hits from it, and both lose a file version's hits once a re-index swaps it out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from chromadb.api import ClientAPI

from adapters.embeddings.hashing import HashingEmbedder
from adapters.keyword.tantivy_index import TantivyKeywordIndex
from adapters.sources.local_folder import LocalFolderSource
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from application.indexing import IndexRepository
from application.search import SearchDocuments, SearchRequest
from domain.jobs import IndexRequest
from domain.retrieval import RetrievalMode
from entrypoints.source_input import source_spec

PAGES = ("tutorial/request-files.md", "tutorial/query-params.md", "tutorial/path-params.md", "advanced/events.md")


def replica(client: ClientAPI) -> SearchDocuments:
    index = ChromaVectorIndex(client)
    return SearchDocuments(HashingEmbedder(), index, ChromaManifestStore(client), TantivyKeywordIndex(index))


async def test_replicas_agree_and_follow_a_change_and_a_delete(
    chroma_client: ClientAPI, corpus: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    for page in PAGES:
        (folder / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus / page, folder / page)
    index = ChromaVectorIndex(chroma_client)
    indexer = IndexRepository([LocalFolderSource()], HashingEmbedder(), index, ChromaManifestStore(chroma_client))
    request = IndexRequest(source_spec(str(folder)), collection="hybrid-test")
    await indexer.execute(request)
    first, second = replica(chroma_client), replica(chroma_client)

    def ask(query: str, mode: RetrievalMode = RetrievalMode.KEYWORD) -> SearchRequest:
        return SearchRequest(query, 5, "hybrid-test", mode=mode)

    upload = [hit.chunk.path for hit in (await first.execute(ask("UploadFile"))).hits]
    assert upload[0] == "tutorial/request-files.md"
    assert [hit.chunk.path for hit in (await second.execute(ask("UploadFile"))).hits] == upload
    hybrid = (await first.execute(ask("UploadFile", RetrievalMode.HYBRID))).hits
    assert hybrid[0].chunk.path == "tutorial/request-files.md" and hybrid[0].keyword_score is not None
    assert "advanced/events.md" in [hit.chunk.path for hit in (await second.execute(ask("lifespan"))).hits]

    (folder / "tutorial/request-files.md").write_text("# Request Files\n\nSend bytes with a multipart form.\n")
    (folder / "advanced/events.md").unlink()
    await indexer.execute(request)

    for search in (first, second):
        texts = [hit.chunk.text for hit in (await search.execute(ask("UploadFile lifespan"))).hits]
        assert not any("UploadFile" in text or "lifespan" in text for text in texts)
        multipart = (await search.execute(ask("multipart"))).hits
        assert multipart[0].chunk.path == "tutorial/request-files.md"
        assert all(
            hit.chunk.path != "advanced/events.md" for hit in (await search.execute(ask("startup shutdown"))).hits
        )
