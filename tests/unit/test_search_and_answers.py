"""SearchDocuments and AnswerQuestion (whole and streamed) against recording fakes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from adapters.keyword.tantivy_index import TantivyKeywordIndex
from application.answering import AnswerQuestion, AskRequest, CitationsEvent, TokenEvent
from application.indexing import IndexRepository
from application.search import MIN_CANDIDATES, OVERFETCH, SearchDocuments, SearchRequest
from domain.answers import ChatTurn, SearchHit, nothing_relevant
from domain.documents import Chunk
from domain.errors import InvalidInput
from domain.jobs import IndexRequest
from domain.retrieval import RetrievalMode
from domain.sources import SourceKind, SourceSpec
from tests.unit.fakes import (
    FakeSource,
    InMemoryManifestStore,
    InMemoryVectorIndex,
    RecordingEmbedder,
    ScriptedGenerator,
    ScriptedRewriter,
)

SPEC = SourceSpec(SourceKind.LOCAL, "/repo")


@pytest.fixture
async def search() -> SearchDocuments:
    files = {"a.md": "# Alpha\n\nquokka quokka\n", "b.md": "# Beta\n\nzebra zebra\n"}
    embedder, index, manifests = RecordingEmbedder(), InMemoryVectorIndex(), InMemoryManifestStore()
    await IndexRepository([FakeSource(files)], embedder, index, manifests).execute(IndexRequest(SPEC))
    return SearchDocuments(embedder, index, manifests, TantivyKeywordIndex(index))


async def test_search_returns_citable_hits_of_the_live_version(search: SearchDocuments) -> None:
    found = await search.execute(SearchRequest("quokka", k=1))
    hits = found.hits
    assert [h.chunk.path for h in hits] == ["a.md"] and found.mode is RetrievalMode.HYBRID
    chunk = hits[0].chunk
    assert (chunk.start_line, chunk.end_line) == (1, 3)
    assert chunk.url == "file:///fake/a.md#L1-L3"


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (SearchRequest("   "), "empty"),
        (SearchRequest("x", k=0), "k must be"),
        (SearchRequest("x", k=51), "k must be"),
        (SearchRequest("x", collection="a"), "invalid collection"),
        (SearchRequest("x", collection="default\n"), "invalid collection"),  # `$` alone would take it
        (SearchRequest("x", collection="c" * 256), "3-255 characters"),  # too long for the keyword index's folder
    ],
)
async def test_bad_search_requests_are_rejected(search: SearchDocuments, request_: SearchRequest, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        await search.execute(request_)


async def test_answer_passes_hits_and_history_to_the_generator(search: SearchDocuments) -> None:
    generator = ScriptedGenerator()
    history = (ChatTurn("user", "hi"), ChatTurn("assistant", "hello"))
    rewriter = ScriptedRewriter("quokka")
    answer = await AnswerQuestion(search, generator, rewriter, None).execute(AskRequest("quokka?", history, k=1))
    assert answer.text == generator.text and answer.generated
    assert rewriter.calls == [("quokka?", list(history))] and answer.search_query == "quokka"
    generated = generator.requests[0]
    assert generated.question == "quokka?" and [h.chunk.path for h in generated.hits] == ["a.md"]
    assert generated.history == history
    assert [c.path for c in answer.citations] == ["a.md"]


async def test_nothing_indexed_answers_without_calling_the_generator() -> None:
    generator = ScriptedGenerator()
    index = InMemoryVectorIndex()
    empty = SearchDocuments(RecordingEmbedder(), index, InMemoryManifestStore(), TantivyKeywordIndex(index))
    answer = await AnswerQuestion(empty, generator, ScriptedRewriter(), None).execute(AskRequest("anything?"))
    assert answer.text == nothing_relevant("default", None) and answer.abstained
    assert answer.citations == () and generator.requests == []


async def test_empty_question_is_rejected(search: SearchDocuments) -> None:
    with pytest.raises(InvalidInput, match="question is empty"):
        await AnswerQuestion(search, ScriptedGenerator(), ScriptedRewriter(), None).execute(AskRequest("  "))


async def test_stream_yields_tokens_then_citations(search: SearchDocuments) -> None:
    generator = ScriptedGenerator("Zebras are striped [1].")
    answer_question = AnswerQuestion(search, generator, ScriptedRewriter(), None)
    events = [e async for e in answer_question.stream(AskRequest("zebra", k=1))]
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    assert "".join(t.text for t in tokens).strip() == "Zebras are striped [1]."
    assert isinstance(events[-1], CitationsEvent) and all(isinstance(e, TokenEvent) for e in events[:-1])
    assert [(c.path, c.used) for c in events[-1].citations] == [("b.md", True)]


@dataclass(frozen=True)
class IndexedNotes:
    """Six quokka notes indexed from one source, and the stores a search of them reads."""

    embedder: RecordingEmbedder
    index: InMemoryVectorIndex
    manifests: InMemoryManifestStore

    async def write_beside(self, chunks: list[Chunk]) -> None:
        """Chunks written into the collection beside the live version's, embedded."""
        vectors = await self.embedder.embed_documents([c.text for c in chunks])
        await self.index.upsert("default", self.embedder.name, chunks, vectors)

    async def dense_top_five(self) -> list[SearchHit]:
        search = SearchDocuments(self.embedder, self.index, self.manifests, TantivyKeywordIndex(self.index))
        return (await search.execute(SearchRequest("quokka", k=5, mode=RetrievalMode.DENSE))).hits


@pytest.fixture
async def notes() -> IndexedNotes:
    files = {f"doc{n}.md": f"# Doc {n}\n\nquokka notes number {n}\n" for n in range(6)}
    indexed = IndexedNotes(RecordingEmbedder(), InMemoryVectorIndex(), InMemoryManifestStore())
    await IndexRepository([FakeSource(files)], indexed.embedder, indexed.index, indexed.manifests).execute(
        IndexRequest(SPEC)
    )
    return indexed


async def test_search_asks_the_index_for_live_versions_only(notes: IndexedNotes) -> None:
    """An index job writes the new version's chunks before the swap: they must not crowd out live hits."""
    await notes.write_beside(
        [
            Chunk(f"new-{n}", SPEC.repository_id, f"doc{n % 6}.md", f"next-{n}", "", 0, "quokka " * 9, 1, 1)
            for n in range(200)
        ]
    )

    hits = await notes.dense_top_five()

    assert len(hits) == 5 and not any(h.chunk.id.startswith("new-") for h in hits)
    wanted = MIN_CANDIDATES * OVERFETCH
    assert [q.k for q in notes.index.queries] == [
        wanted,
        wanted,
    ]  # a plain query came back crowded, then one of live versions only


async def test_search_widens_past_chunks_whose_version_is_live_under_another_path(notes: IndexedNotes) -> None:
    live_sha = next(iter(notes.index.records["default"].values()))[0].blob_sha
    await notes.write_beside(
        [
            Chunk(f"copy-{n}", SPEC.repository_id, f"moved/{n}.md", live_sha, "", 0, "quokka " * 9, 1, 1)
            for n in range(400)
        ]
    )

    hits = await notes.dense_top_five()

    assert len(hits) == 5 and not any(h.chunk.id.startswith("copy-") for h in hits)
    assert notes.index.queries[-1].k > MIN_CANDIDATES * OVERFETCH  # it had to widen past the first over-fetch
