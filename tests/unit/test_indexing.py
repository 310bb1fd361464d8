"""IndexRepository: incremental, idempotent, and never half-visible."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import pytest

from adapters.chunking.tree_sitter_outline import TreeSitterOutline
from adapters.domain_json import MANIFEST
from adapters.keyword.tantivy_index import TantivyKeywordIndex
from application.indexing import IndexPlan, IndexRepository, SourceUnchanged
from application.ports.jobs import BatchRunner, IndexBatch
from application.ports.stores import StoredChunk
from application.search import SearchDocuments, SearchRequest
from domain.answers import SearchHit
from domain.chunking import embedding_text
from domain.content_keys import content_key
from domain.documents import (
    CHUNKER_VERSION,
    FIRST_CHUNKER_VERSION,
    FileEntry,
    Manifest,
    SkipCounts,
    chunk_id,
    diff_manifest,
)
from domain.errors import RepochatError
from domain.jobs import IndexRequest, IndexResult
from domain.sources import SourceKind, SourceSpec
from tests.unit.fakes import (
    FakeSource,
    InMemoryManifestStore,
    InMemoryVectorIndex,
    OtherWorkerBatches,
    RecordingEmbedder,
    RecordingProgress,
)

SPEC = SourceSpec(SourceKind.LOCAL, "/repo")
REQUEST = IndexRequest(SPEC)

FILES = {
    "guide.md": "# Guide\n\nInstall with pip.\n\n## Usage\n\nRun the zebra command.\n",
    "api.md": "# API\n\nThe quokka endpoint returns JSON.\n",
    "main.py": "def main():\n    return 'walrus'\n",
}


async def planned(indexer: IndexRepository, request: IndexRequest) -> IndexPlan:
    """The plan of a source that changed (not `SourceUnchanged`)."""
    plan = await indexer.plan(request)
    assert isinstance(plan, IndexPlan)
    return plan


def whole(plan: IndexPlan) -> IndexBatch:
    """Every file of the plan as one batch."""
    return IndexBatch(plan.request, plan.version, plan.diff.to_index, 1, 1)


class World:
    def __init__(self, files: dict[str, str], binary: tuple[str, ...] = ()) -> None:
        self.source = FakeSource(files, binary)
        self.embedder = RecordingEmbedder()
        self.index = InMemoryVectorIndex()
        self.manifests = InMemoryManifestStore()

    def indexer(self, embedder: RecordingEmbedder | None = None, batches: BatchRunner | None = None) -> IndexRepository:
        return IndexRepository(
            [self.source], embedder or self.embedder, self.index, self.manifests, files_per_batch=1, batches=batches
        )

    async def search(self, query: str, k: int = 10) -> list[str]:
        return [h.chunk.text for h in await self.hits(query, k)]

    async def hits(self, query: str, k: int = 10, repository: str | None = None) -> list[SearchHit]:
        search = SearchDocuments(self.embedder, self.index, self.manifests, TantivyKeywordIndex(self.index))
        return list((await search.execute(SearchRequest(query, k, repository=repository))).hits)

    async def index_other(self, request: IndexRequest, files: dict[str, str]) -> IndexResult:
        """Index another repository (a fork, a copy) holding `files`, into the same index with the same embedder."""
        source = FakeSource(files)
        return await IndexRepository([source], self.embedder, self.index, self.manifests).execute(request)

    def vectors_by_key(self, repository: str) -> dict[str, list[float]]:
        stored = self.index.records["default"].values()
        return {content_key(chunk): vector for chunk, vector in stored if chunk.repository == repository}


async def test_first_index_embeds_every_file_and_records_the_manifest() -> None:
    world = World(FILES)
    result = await world.indexer().execute(REQUEST)
    assert result.files_indexed == 3
    assert result.chunks_written == len(world.index.upserted) > 0
    manifest = await world.manifests.get("default", SPEC.repository_id, None)
    assert manifest is not None and set(manifest.files) == set(FILES)
    assert world.index.paths() == set(FILES)


async def test_reindex_of_unchanged_source_reads_and_embeds_nothing() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    world.embedder.embedded.clear()
    world.source.reads.clear()
    calls_before = world.embedder.calls

    result = await world.indexer().execute(REQUEST)

    assert result.embedding_calls == 0 and world.embedder.calls == calls_before
    assert world.source.reads == []
    assert result.files_unchanged == 3 and result.files_indexed == 0


async def test_changed_added_and_deleted_files_are_handled_exactly() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    world.embedder.embedded.clear()
    world.source.reads.clear()
    world.source.files["api.md"] = "# API\n\nThe platypus endpoint returns JSON.\n"
    world.source.files["new.md"] = "# New\n\nA narwhal appears.\n"
    del world.source.files["main.py"]

    result = await world.indexer().execute(REQUEST)

    assert sorted(world.source.reads) == ["api.md", "new.md"]
    assert all("platypus" in t or "narwhal" in t for t in world.embedder.embedded)
    assert (result.files_indexed, result.files_unchanged, result.files_deleted) == (2, 1, 1)
    texts = " ".join(await world.search("platypus narwhal walrus quokka zebra"))
    assert "platypus" in texts and "narwhal" in texts
    assert "quokka" not in texts and "walrus" not in texts
    assert world.index.paths() == {"guide.md", "api.md", "new.md"}
    assert result.chunks_deleted == 2


async def test_readers_see_the_previous_version_until_the_manifest_swap() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    world.source.files["api.md"] = "# API\n\nThe platypus endpoint returns JSON.\n"
    indexer = world.indexer()

    plan = await planned(indexer, REQUEST)
    outcome = await indexer.write(whole(plan))
    during = " ".join(await world.search("platypus quokka endpoint"))
    assert "quokka" in during and "platypus" not in during

    await indexer.finalize(plan, outcome)
    after = " ".join(await world.search("platypus quokka endpoint"))
    assert "platypus" in after and "quokka" not in after


async def test_a_failed_reindex_leaves_the_previous_version_whole() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    before = await world.manifests.get("default", SPEC.repository_id, None)
    world.source.files = {path: text + "\nEdited by a zebra.\n" for path, text in FILES.items()}
    failing = RecordingEmbedder(fail_after_calls=0)

    with pytest.raises(RuntimeError):
        await world.indexer(failing).execute(REQUEST)

    assert await world.manifests.get("default", SPEC.repository_id, None) == before
    results = await world.search("quokka walrus zebra install", k=10)
    assert all("Edited by" not in t for t in results) and len(results) >= 3


async def test_a_retried_write_is_idempotent_and_reuses_stored_chunks() -> None:
    world = World(FILES)
    indexer = world.indexer()
    plan = await planned(indexer, REQUEST)
    first = await indexer.write(whole(plan))
    ids_after_first = set(world.index.records["default"])

    retry = await indexer.write(whole(plan))

    assert retry.chunks_written == 0 and retry.embedding_calls == 0
    assert len(world.index.content_lookups) == 1  # the first write's: stored ids need no content lookup
    assert set(world.index.records["default"]) == ids_after_first
    assert retry.chunk_counts == first.chunk_counts


async def test_binary_files_are_skipped_and_not_fetched_again() -> None:
    world = World({**FILES, "logo.txt": "\0\0"}, binary=("logo.txt",))
    result = await world.indexer().execute(REQUEST)
    assert result.files_skipped == 1 and result.files_indexed == 3
    assert "logo.txt" not in world.index.paths()
    world.source.files["api.md"] += "\nMore.\n"
    world.source.reads.clear()
    await world.indexer().execute(REQUEST)
    assert world.source.reads == ["api.md"]


async def test_new_filters_relist_the_same_version_and_reuse_stored_chunks() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    only_markdown = IndexRequest(SourceSpec(SourceKind.LOCAL, "/repo", exclude=("*.py",)))
    world.source.files.pop("main.py")  # the fake source does not filter: drop what the glob excludes
    calls = world.embedder.calls

    result = await world.indexer().execute(only_markdown)

    assert (result.files_deleted, result.files_unchanged, result.embedding_calls) == (1, 2, 0)
    assert world.embedder.calls == calls and world.index.paths() == {"guide.md", "api.md"}


async def test_progress_reports_stages_and_counts() -> None:
    world = World(FILES)
    progress = RecordingProgress()
    await world.indexer().execute(REQUEST, progress)
    stages = [stage for stage, _ in progress.reports]
    assert stages[0] == "listing files" and stages[-1] == "finalizing"
    last = progress.reports[-1][1]
    assert (last.files_total, last.files_done) == (3, 3) and last.chunks_written > 0


async def test_a_cancelled_first_index_leaves_chunks_the_next_index_sweeps() -> None:
    world = World(FILES)
    indexer = world.indexer()
    plan = await planned(indexer, REQUEST)
    await indexer.write(whole(plan))  # then cancelled: no finalize
    orphans = set(world.index.records["default"])
    world.source.files = {"guide.md": FILES["guide.md"], "new.md": "# New\n\nA narwhal appears.\n"}

    result = await world.indexer().execute(REQUEST)

    manifest = await world.manifests.get("default", SPEC.repository_id, None)
    assert manifest is not None
    stored = world.index.records["default"].values()
    assert {(c.path, c.blob_sha) for c, _ in stored} == set(manifest.files.items())
    assert len(stored) == manifest.chunk_total
    assert result.chunks_deleted == len(orphans - set(world.index.records["default"])) > 0


async def test_a_failed_reindex_keeps_what_it_wrote_until_discarded_and_the_next_one_succeeds() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    before = await world.manifests.get("default", SPEC.repository_id, None)
    assert before is not None
    world.source.files["api.md"] = "# API\n\nThe platypus endpoint returns JSON.\n"
    world.source.files["new.md"] = "# New\n\nA narwhal appears.\n"
    failing = IndexRepository([world.source], RecordingEmbedder(fail_after_calls=1), world.index, world.manifests, 1)
    with pytest.raises(RuntimeError):
        await failing.execute(REQUEST)  # after writing the chunks of one file
    wrote = len(world.index.records["default"]) - before.chunk_total
    assert wrote > 0 and not world.index.deleted  # kept for a retry: the queue decides when the job is over

    assert await failing.discard_unswapped(REQUEST) == wrote
    assert await world.manifests.get("default", SPEC.repository_id, None) == before
    assert {(c.path, c.blob_sha) for c, _ in world.index.records["default"].values()} == set(before.files.items())
    assert len(world.index.records["default"]) == before.chunk_total
    world.source.files["new.md"] = "# New\n\nA capybara appears.\n"

    await world.indexer().execute(REQUEST)

    manifest = await world.manifests.get("default", SPEC.repository_id, None)
    assert manifest is not None
    assert {(c.path, c.blob_sha) for c, _ in world.index.records["default"].values()} == set(manifest.files.items())


async def test_a_job_cancelled_mid_way_keeps_what_it_wrote_and_its_next_run_embeds_only_the_rest() -> None:
    world = World(FILES)

    class CancelledOnSecondCall(RecordingEmbedder):
        async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
            if self.calls == 1:
                raise asyncio.CancelledError
            return await super().embed_documents(texts)

    cancelled = CancelledOnSecondCall()
    indexer = IndexRepository([world.source], cancelled, world.index, world.manifests, 1)
    with pytest.raises(asyncio.CancelledError):
        await indexer.execute(REQUEST)
    assert world.index.records["default"] and not world.index.deleted

    await world.indexer().execute(REQUEST)

    assert set(world.embedder.embedded).isdisjoint(cancelled.embedded)
    assert world.embedder.calls == len(FILES) - 1


async def test_discarding_is_best_effort_and_leaves_live_chunks_alone() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    live = set(world.index.records["default"])

    class StoreDown(InMemoryVectorIndex):
        async def stored_chunks(self, _collection: str, _repository: str) -> list[StoredChunk]:
            raise RuntimeError("connection reset")

    down = IndexRepository([world.source], world.embedder, StoreDown(), world.manifests)
    assert await down.discard_unswapped(REQUEST) == 0  # logged, not raised: the job's own error matters more
    assert await world.indexer().discard_unswapped(REQUEST) == 0
    assert set(world.index.records["default"]) == live


async def test_the_sweep_leaves_other_repositories_alone() -> None:
    world = World(FILES)
    other = IndexRequest(SourceSpec(SourceKind.LOCAL, "/other"))
    plan = await planned(world.indexer(), other)
    await world.indexer().write(whole(plan))  # an unfinished job of /other
    unfinished = set(world.index.records["default"])

    await world.indexer().execute(REQUEST)

    assert unfinished <= set(world.index.records["default"])


async def chunked_by_the_previous_chunker(world: World) -> int:
    """Turn the world's index into what the previous chunker left: its chunk ids, a manifest that names none.

    Returns the number of chunks it holds.
    """
    manifest = await world.manifests.get("default", SPEC.repository_id, None)
    assert manifest is not None
    stored = [chunk for chunk, _ in world.index.records["default"].values()]
    await world.index.delete("default", [c.id for c in stored])
    old = [replace(c, id=chunk_id(c.repository, c.path, c.blob_sha, c.ordinal, FIRST_CHUNKER_VERSION)) for c in stored]
    await world.index.upsert("default", world.embedder.name, old, [[1.0] * 26 for _ in old])
    world.index.content_keys["default"].clear()  # stored before chunks recorded their content keys
    await world.manifests.save("default", replace(manifest, chunker=""))  # saved before manifests said
    world.source.reads.clear()
    world.embedder.embedded.clear()
    return len(old)


async def test_a_new_chunker_re_chunks_every_file_once_then_a_re_index_touches_nothing() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    old_chunks = await chunked_by_the_previous_chunker(world)

    result = await world.indexer().execute(REQUEST)

    assert sorted(world.source.reads) == sorted(FILES)
    assert (result.files_indexed, result.files_unchanged) == (3, 0)
    assert result.chunks_written == len(world.embedder.embedded) == old_chunks
    assert result.chunks_deleted == old_chunks
    manifest = await world.manifests.get("default", SPEC.repository_id, None)
    assert manifest is not None and manifest.chunker == CHUNKER_VERSION and not manifest.outdated_chunker
    assert set(world.index.records["default"]) == manifest.chunk_ids()

    world.source.reads.clear()
    world.embedder.embedded.clear()
    again = await world.indexer().execute(REQUEST)

    assert world.source.reads == [] and world.embedder.embedded == []
    assert (again.files_unchanged, again.chunks_written, again.chunks_deleted) == (3, 0, 0)


async def test_the_re_chunk_runs_through_plan_batches_and_finalize_as_a_distributed_queue_does() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    await chunked_by_the_previous_chunker(world)
    indexer = world.indexer()

    plan = await planned(indexer, REQUEST)
    assert plan.diff.unchanged == () and len(plan.diff.to_index) == 3
    outcomes = [await indexer.write(batch) for batch in plan.batches(1)]
    result = await indexer.finalize(plan, sum(outcomes[1:], outcomes[0]))

    assert result.files_indexed == 3
    manifest = await world.manifests.get("default", SPEC.repository_id, None)
    assert manifest is not None and set(world.index.records["default"]) == manifest.chunk_ids()


def test_a_manifest_saved_before_the_chunker_was_recorded_still_loads_and_asks_for_a_re_chunk() -> None:
    saved = MANIFEST.to_data(Manifest("local:/repo", "/repo", "c0ffee", {"a.md": "sha"}, {"a.md": 1}))
    del saved["chunker"]
    manifest = MANIFEST.from_data(saved)
    assert manifest.chunker == "" and manifest.outdated_chunker
    assert diff_manifest(manifest, (FileEntry("a.md", "sha", 1),)).changed == (FileEntry("a.md", "sha", 1),)


async def test_embedding_calls_hold_texts_of_similar_length_and_vectors_stay_with_their_chunks() -> None:
    files = {f"doc{n}.md": f"# Doc {n}\n\n" + "word " * (37 * n % 11 + 1) + "\n" for n in range(12)}
    world = World(files)
    indexer = IndexRepository([world.source], world.embedder, world.index, world.manifests, 32, 4)

    await indexer.execute(REQUEST)

    lengths = [len(text) for text in world.embedder.embedded]
    assert lengths == sorted(lengths) and world.embedder.calls == 3
    for chunk, vector in world.index.records["default"].values():
        assert vector == await world.embedder.embed_query(embedding_text(chunk))


async def test_an_outline_makes_code_chunks_at_symbols_and_the_default_finds_none() -> None:
    code = {"router.py": "import re\n\n\nclass Router:\n    def add(self):\n        return 1\n"}
    outlined, plain = World(code), World(code)
    with_outline = IndexRepository(
        [outlined.source], outlined.embedder, outlined.index, outlined.manifests, outline=TreeSitterOutline()
    )
    await with_outline.execute(REQUEST)
    await plain.indexer().execute(REQUEST)

    assert {c.headings for c, _ in outlined.index.records["default"].values()} == {(), ("class Router",)}
    assert {c.headings for c, _ in plain.index.records["default"].values()} == {()}


FORK = IndexRequest(SourceSpec(SourceKind.LOCAL, "/fork"))
LONG_PAGE = "".join(
    f"# Part {n}\n\n" + f"The {animal} section explains {animal} things at length. " * 20 + "\n\n"
    for n, animal in enumerate(("heron", "ibis", "jackal"))
)
"""Three sections, each too long to share a chunk with another."""


async def test_a_second_repository_with_identical_files_embeds_nothing_and_cites_itself() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    calls = world.embedder.calls

    result = await world.index_other(FORK, FILES)

    assert world.embedder.calls == calls and result.embedding_calls == 0
    assert result.chunks_written == result.chunks_reused == len(world.vectors_by_key(FORK.source.repository_id)) > 0
    assert world.vectors_by_key(FORK.source.repository_id) == world.vectors_by_key(SPEC.repository_id)
    hits = await world.hits("quokka endpoint", repository=FORK.source.repository_id)
    manifest = await world.manifests.get("default", FORK.source.repository_id, None)
    assert manifest is not None and hits and hits[0].chunk.path == "api.md"
    assert {(h.chunk.repository, h.chunk.commit) for h in hits} == {(FORK.source.repository_id, manifest.commit)}


async def test_a_fork_with_one_changed_file_embeds_only_that_files_chunks() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    world.embedder.embedded.clear()
    changed = {**FILES, "api.md": "# API\n\nThe platypus endpoint returns JSON.\n"}

    result = await world.index_other(FORK, changed)

    assert world.embedder.embedded and all(text.startswith("api.md:") for text in world.embedder.embedded)
    assert result.chunks_written - result.chunks_reused == len(world.embedder.embedded)
    unchanged = [c for c, _ in world.index.records["default"].values() if c.repository == SPEC.repository_id]
    assert result.chunks_reused == len([c for c in unchanged if c.path != "api.md"])
    hits = await world.hits("platypus endpoint", repository=FORK.source.repository_id)
    assert hits[0].chunk.text.endswith("The platypus endpoint returns JSON.")


async def test_a_new_version_of_a_file_embeds_only_its_changed_sections() -> None:
    world = World({"long.md": LONG_PAGE})
    await world.indexer().execute(REQUEST)
    world.embedder.embedded.clear()
    world.source.files["long.md"] = LONG_PAGE.replace("ibis", "kiwi")

    result = await world.indexer().execute(REQUEST)

    assert result.files_indexed == 1 and result.chunks_written == 3 and result.chunks_reused == 2
    assert len(world.embedder.embedded) == 1 and "kiwi" in world.embedder.embedded[0]
    texts = " ".join(await world.search("heron ibis jackal kiwi"))
    assert "kiwi" in texts and "ibis" not in texts and "heron" in texts and "jackal" in texts


async def test_a_moved_file_reuses_the_vectors_of_its_text_stored_at_the_new_path() -> None:
    world = World(FILES)
    await world.index_other(FORK, {**FILES, "reference/api.md": FILES["api.md"]})  # a fork moved api.md earlier
    await world.indexer().execute(REQUEST)
    world.embedder.embedded.clear()
    del world.source.files["api.md"]
    world.source.files["reference/api.md"] = FILES["api.md"]

    result = await world.indexer().execute(REQUEST)

    assert world.embedder.embedded == [] and result.chunks_reused == result.chunks_written > 0
    hits = await world.hits("quokka endpoint", repository=SPEC.repository_id)
    assert hits[0].chunk.path == "reference/api.md"


async def test_a_file_moved_where_no_chunk_has_its_text_is_embedded_again_for_its_path_is_embedded() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    world.embedder.embedded.clear()
    world.source.files["reference/api.md"] = world.source.files.pop("api.md")

    result = await world.indexer().execute(REQUEST)

    assert result.chunks_reused == 0
    assert world.embedder.embedded and all(t.startswith("reference/api.md:") for t in world.embedder.embedded)


async def test_chunks_with_one_text_in_one_batch_are_embedded_once() -> None:
    section = "# Example\n\n" + "Run the lemur command and read what it prints. " * 25 + "\n\n"
    world = World({"twice.md": section * 2})

    result = await world.indexer().execute(REQUEST)

    assert (result.chunks_written, result.chunks_reused, len(world.embedder.embedded)) == (2, 1, 1)
    first, second = world.index.records["default"].values()
    assert first[0].start_line != second[0].start_line and first[1] == second[1]


async def test_a_source_that_reports_no_change_plans_nothing_to_do() -> None:
    world = World(FILES)
    first = await world.indexer().execute(REQUEST)

    plan = await world.indexer().plan(REQUEST)

    assert plan == SourceUnchanged(first.commit, 3, SkipCounts())
    assert plan.result() == IndexResult(files_unchanged=3, commit=first.commit)


async def test_batches_run_on_another_worker_in_any_order_index_exactly_what_the_loop_here_does() -> None:
    here, elsewhere = World(FILES), World(FILES)
    runner = OtherWorkerBatches(elsewhere.indexer())
    progress = RecordingProgress()

    local = await here.indexer().execute(REQUEST)
    distributed = await elsewhere.indexer(batches=runner).execute(REQUEST, progress)

    assert distributed == local
    assert [batch.number for batch in runner.batches] == [1, 2, 3] and {b.of for b in runner.batches} == {3}
    assert sorted(entry.path for batch in runner.batches for entry in batch.files) == sorted(FILES)
    assert await elsewhere.manifests.get("default", SPEC.repository_id, None) is not None
    embedding = [p for stage, p in progress.reports if stage == "embedding"]
    assert [p.files_done for p in embedding] == [0, 1, 2, 3]
    assert progress.reports[-1] == ("finalizing", embedding[-1])


async def test_a_batch_that_comes_back_empty_swaps_nothing_in() -> None:
    world = World(FILES)
    await world.indexer().execute(REQUEST)
    before = await world.manifests.get("default", SPEC.repository_id, None)
    world.source.files["api.md"] = "# API\n\nThe platypus endpoint returns JSON.\n"
    world.source.files["new.md"] = "# New\n\nA narwhal appears.\n"
    runner = OtherWorkerBatches(world.indexer(), lose={2})

    with pytest.raises(RepochatError, match="1 files were not indexed"):
        await world.indexer(batches=runner).execute(REQUEST)

    assert await world.manifests.get("default", SPEC.repository_id, None) == before
