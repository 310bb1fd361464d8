"""TantivyKeywordIndex in memory and hybrid search over recording fakes: the keyword leg follows manifests, per ref."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.keyword.chunk_reader import KeywordChunk
from adapters.keyword.ref_versions import RefVersions, Swap
from adapters.keyword.synced_refs import SyncedRefs
from adapters.keyword.tantivy_index import READ_AHEAD, TantivyKeywordIndex
from application.indexing import IndexRepository
from application.ports.stores import QueryVector
from application.repositories import ForgetRepository
from application.search import SearchDocuments, SearchRequest
from domain.documents import CHUNKER_VERSION, Chunk, Manifest, chunk_id, git_blob_sha
from domain.errors import UpstreamUnavailable
from domain.jobs import IndexRequest
from domain.keywords import keyword_terms
from domain.retrieval import RetrievalMode, RetrievalPolicy
from domain.sources import SourceKind, SourceSpec
from tests.unit.fakes import FakeSource, InMemoryManifestStore, InMemoryVectorIndex, RecordingEmbedder

SPEC = SourceSpec(SourceKind.LOCAL, "/repo")
KEYWORD = RetrievalMode.KEYWORD
FILES = {
    "settings.md": "# Settings\n\nSet UV_INDEX_URL to use another package index.\n",
    "server.md": "# Server\n\nStart the server with --reload while you develop.\n",
    "models.md": "# Models\n\nA model_validator runs after field validation.\n",
}


class World:
    def __init__(self, files: dict[str, str], policy: RetrievalPolicy | None = None) -> None:
        self.source = FakeSource(files)
        self.embedder, self.index, self.manifests = RecordingEmbedder(), InMemoryVectorIndex(), InMemoryManifestStore()
        self.keywords = TantivyKeywordIndex(self.index)
        self.search = SearchDocuments(
            self.embedder, self.index, self.manifests, self.keywords, policy or RetrievalPolicy()
        )

    async def index_files(self) -> None:
        await IndexRepository([self.source], self.embedder, self.index, self.manifests).execute(IndexRequest(SPEC))

    async def paths(self, query: str, mode: RetrievalMode = RetrievalMode.KEYWORD, k: int = 3) -> list[str]:
        return [hit.chunk.path for hit in (await self.search.execute(SearchRequest(query, k, mode=mode))).hits]


async def test_keyword_mode_finds_identifiers_and_flags() -> None:
    world = World(FILES)
    await world.index_files()

    assert (await world.paths("UV_INDEX_URL"))[0] == "settings.md"
    assert (await world.paths("--reload"))[0] == "server.md"
    assert (await world.paths("what does model_validator do"))[0] == "models.md"
    hits = (await world.search.execute(SearchRequest("UV_INDEX_URL", mode=RetrievalMode.KEYWORD))).hits
    assert hits[0].keyword_score is not None and hits[0].similarity is None
    assert hits[0].chunk.url.startswith("file:///fake/settings.md#L")


async def test_a_changed_file_loses_its_old_keyword_hits_and_a_deleted_one_all_of_them() -> None:
    world = World(FILES)
    await world.index_files()
    assert await world.paths("model_validator") == ["models.md"]

    world.source.files["models.md"] = "# Models\n\nA field_validator checks one field.\n"
    del world.source.files["server.md"]
    await world.index_files()

    texts = [
        hit.chunk.text for hit in (await world.search.execute(SearchRequest("model_validator", mode=KEYWORD))).hits
    ]
    assert texts and not any("model_validator" in text for text in texts)  # only the new version matches
    assert await world.paths("field_validator") == ["models.md"]
    assert await world.paths("--reload") == []


async def test_an_unchanged_manifest_reads_nothing_and_a_change_reads_only_new_versions() -> None:
    world = World(FILES)
    await world.index_files()
    await world.paths("index")
    await world.paths("server")
    assert world.index.chunk_reads == [(SPEC.repository_id, None)]  # everything was new: one whole read

    world.source.files["server.md"] += "\nUse uvicorn.\n"
    await world.index_files()
    await world.paths("uvicorn")

    changed = world.manifests.manifests[("default", SPEC.repository_id, "")].files["server.md"]
    assert world.index.chunk_reads[1:] == [(SPEC.repository_id, frozenset({changed}))]


async def test_the_keyword_leg_never_returns_chunks_of_versions_that_are_not_live() -> None:
    world = World(FILES)
    await world.index_files()
    pending = Chunk("next-1", SPEC.repository_id, "settings.md", "next-sha", "", 0, "UV_INDEX_URL " * 5, 1, 1)
    await world.index.upsert("default", world.embedder.name, [pending], [[1.0] * 26])

    for mode in RetrievalMode:
        hits = (await world.search.execute(SearchRequest("UV_INDEX_URL", mode=mode))).hits
        assert hits and all(hit.chunk.id != "next-1" for hit in hits), mode


async def test_hybrid_finds_what_either_leg_finds_and_carries_both_scores() -> None:
    world = World(FILES)
    await world.index_files()

    hits = (await world.search.execute(SearchRequest("model_validator", k=3))).hits

    assert hits[0].chunk.path == "models.md"
    assert hits[0].similarity is not None and hits[0].keyword_score is not None
    assert len({hit.chunk.path for hit in hits}) == 3


async def test_search_caps_hits_per_file_as_configured() -> None:
    files = {"long.md": "".join(f"# Part {n}\n\nquokka facts {n}\n\n" for n in range(6)), "other.md": "# O\n\nquokka\n"}
    capped, uncapped = World(files), World(files, RetrievalPolicy(max_hits_per_file=0))
    await capped.index_files()
    await uncapped.index_files()

    assert (await capped.paths("quokka", RetrievalMode.HYBRID, k=3)).count("long.md") == 2
    assert (await uncapped.paths("quokka", RetrievalMode.HYBRID, k=3)).count("long.md") >= 2
    assert "other.md" in await capped.paths("quokka", RetrievalMode.HYBRID, k=3)


async def test_keyword_context_terms_join_the_keyword_query() -> None:
    world = World(FILES)
    await world.index_files()

    plain = (await world.search.execute(SearchRequest("how do I turn it on", mode=RetrievalMode.KEYWORD))).hits
    followed = (
        await world.search.execute(
            SearchRequest("how do I turn it on", mode=RetrievalMode.KEYWORD, keyword_context="the --reload flag")
        )
    ).hits

    assert plain == () and followed[0].chunk.path == "server.md"


async def test_chunks_another_chunker_cut_of_a_live_version_stay_hidden_until_the_swap() -> None:
    world = World(FILES)
    await world.index_files()
    [live] = [c for c, _ in world.index.records["default"].values() if c.path == "settings.md"]
    recut = replace(live, id="recut-by-a-newer-chunker", text="UV_INDEX_URL " * 5)  # same file version
    await world.index.upsert("default", world.embedder.name, [recut], [[1.0] * 26])

    for mode in RetrievalMode:
        hits = (await world.search.execute(SearchRequest("UV_INDEX_URL", mode=mode))).hits
        assert [hit.chunk.id for hit in hits if hit.chunk.path == "settings.md"] == [live.id], mode


async def test_a_repository_chunked_anew_is_read_again_whole_by_the_keyword_leg() -> None:
    world = World(FILES)
    await world.index_files()
    key = ("default", SPEC.repository_id, "")
    world.manifests.manifests[key] = replace(world.manifests.manifests[key], chunker="0")  # as an older build saved it
    assert await world.paths("UV_INDEX_URL") == []  # its chunks (cut by "0") are not the ones stored

    await world.index_files()  # an outdated chunker: every file is cut again, and the manifest says by whom

    assert (await world.paths("UV_INDEX_URL"))[0] == "settings.md"
    assert world.index.chunk_reads == [(SPEC.repository_id, None), (SPEC.repository_id, None)]


async def test_hybrid_scores_each_candidate_by_both_legs() -> None:
    world = World(FILES)
    await world.index_files()

    hits = (await world.search.execute(SearchRequest("UV_INDEX_URL --reload model_validator", k=3))).hits

    assert {hit.chunk.path for hit in hits} == set(FILES)
    assert all(hit.similarity is not None and hit.keyword_score for hit in hits)
    stored = {c.id: v for c, v in world.index.records["default"].values()}
    vector = await world.embedder.embed_query("UV_INDEX_URL --reload model_validator")
    for hit in hits:  # the similarity is the dense leg's own, whichever leg found the passage
        assert hit.similarity == pytest.approx(sum(a * b for a, b in zip(vector, stored[hit.chunk.id], strict=True)))


async def test_keyword_hits_carry_their_similarity_to_a_query_vector_of_the_embedder_that_made_theirs() -> None:
    world = World(FILES)
    await world.index_files()
    live = {m.repository: m for _, m in await world.manifests.entries("default")}
    terms = dict.fromkeys(keyword_terms("model_validator --reload"), 1.0)
    vector = await world.embedder.embed_query("model_validator --reload")

    hits = await world.keywords.query("default", terms, 3, live, QueryVector(world.embedder.name, vector))
    stored = await world.index.similarities("default", world.embedder.name, vector, [h.chunk.id for h in hits])

    assert len(hits) == 2
    assert [hit.similarity for hit in hits] == [pytest.approx(stored[hit.chunk.id], abs=1e-6) for hit in hits]
    for scored_by in (QueryVector("another-model", vector), QueryVector(world.embedder.name, vector[:-1]), None):
        assert [hit.similarity for hit in await world.keywords.query("default", terms, 3, live, scored_by)] == [
            None,
            None,
        ]


async def test_hybrid_asks_the_store_only_for_the_vectors_the_keyword_index_does_not_hold() -> None:
    crowd = {f"filler-{n}.md": f"# Filler {n}\n\nzyzzy yzzyz vvvaz zzyyv {n}\n" for n in range(40)}
    files = crowd | {"beetle.md": "# Beetles\n\nThe zyzzyva beetle, seen in the reeds there every evening.\n"}
    holding, without = World(files), World(files)
    without.index.keyword_vectors = False
    for world in (holding, without):
        await world.index_files()

    found = [(await world.search.execute(SearchRequest("zyzzyva", k=5))).hits for world in (holding, without)]

    assert "beetle.md" in {hit.chunk.path for hit in found[0]}
    assert [(h.chunk.id, pytest.approx(h.similarity, abs=1e-6)) for h in found[0]] == [
        (h.chunk.id, h.similarity) for h in found[1]
    ]
    beetle = next(hit.chunk.id for hit in found[1] if hit.chunk.path == "beetle.md")
    assert any(beetle in read for read in without.index.similarity_reads)  # the keyword leg's alone
    assert not any(holding.index.similarity_reads)


REPO = "acme/docs"
RELEASE = "v1"
MAIN = None


class Refs:
    """Refs of one repository, stored by hand (one chunk per file) and searched through the keyword index alone."""

    def __init__(self) -> None:
        self.index = InMemoryVectorIndex()
        self.keywords = TantivyKeywordIndex(self.index)

    async def indexed(self, ref: str | None, files: dict[str, str], chunker: str = CHUNKER_VERSION) -> Manifest:
        """Store the chunks of `files` at `ref` and return the manifest that makes them live."""
        chunks = [_chunk(path, text, chunker) for path, text in files.items()]
        await self.index.upsert("default", "hashing", chunks, [[1.0]] * len(chunks))
        versions = {chunk.path: chunk.blob_sha for chunk in chunks}
        return Manifest(
            REPO, "github", f"commit-of-{ref}", versions, dict.fromkeys(versions, 1), ref=ref, chunker=chunker
        )

    async def texts(self, manifest: Manifest, query: str) -> list[str]:
        terms = dict.fromkeys(keyword_terms(query), 1.0)
        return [hit.chunk.text for hit in await self.keywords.query("default", terms, 10, {REPO: manifest})]

    @property
    def reads(self) -> list[frozenset[str] | None]:
        """The blob SHAs of each read of stored chunks (None: the whole repository)."""
        return [shas for _, shas in self.index.chunk_reads]


def _chunk(path: str, text: str, chunker: str = CHUNKER_VERSION) -> Chunk:
    sha = git_blob_sha(text.encode())
    return Chunk(chunk_id(REPO, path, sha, 0, chunker), REPO, path, sha, "", 0, text, 1, 1)


RELEASE_FILES = {
    "settings.md": "Set UV_INDEX_URL to pick the package index.",
    "server.md": "Start the server with --reload.",
    "models.md": "A model_validator runs after validation.",
    "cli.md": "Run pip install to install it.",
}
MAIN_FILES = RELEASE_FILES | {"settings.md": "Set UV_INDEX_URL to pick the package index, or a quokka mirror."}


async def test_two_refs_queried_alternately_each_return_their_own_version_of_a_changed_file() -> None:
    refs = Refs()
    release, main = await refs.indexed(RELEASE, RELEASE_FILES), await refs.indexed(MAIN, MAIN_FILES)

    for _ in range(2):
        assert await refs.texts(release, "UV_INDEX_URL") == [RELEASE_FILES["settings.md"]]
        assert await refs.texts(main, "UV_INDEX_URL") == [MAIN_FILES["settings.md"]]
    assert await refs.texts(release, "quokka") == []
    assert await refs.texts(main, "quokka") == [MAIN_FILES["settings.md"]]
    assert await refs.texts(main, "--reload") == await refs.texts(release, "--reload") == [RELEASE_FILES["server.md"]]


async def test_alternating_between_synced_refs_reads_nothing_more() -> None:
    refs = Refs()
    release, main = await refs.indexed(RELEASE, RELEASE_FILES), await refs.indexed(MAIN, MAIN_FILES)
    await refs.texts(release, "index")
    await refs.texts(main, "index")
    assert len(refs.reads) == 2

    for manifest in (release, main, replace(release), replace(main), release):  # copies: as a store reads them anew
        assert await refs.texts(manifest, "UV_INDEX_URL")

    assert len(refs.reads) == 2


async def test_a_second_ref_sharing_most_files_reads_only_the_versions_it_differs_in() -> None:
    refs = Refs()
    release, main = await refs.indexed(RELEASE, RELEASE_FILES), await refs.indexed(MAIN, MAIN_FILES)

    await refs.texts(release, "index")
    await refs.texts(main, "index")

    assert refs.reads == [None, frozenset({main.files["settings.md"]})]
    assert await refs.texts(main, "model_validator") == [RELEASE_FILES["models.md"]]  # shared, not read again


async def test_a_chunk_shared_by_two_refs_stays_searchable_at_one_after_the_other_drops_it() -> None:
    refs = Refs()
    release, main = await refs.indexed(RELEASE, RELEASE_FILES), await refs.indexed(MAIN, MAIN_FILES)
    await refs.texts(release, "index")
    await refs.texts(main, "index")
    [shared] = [c for c, _ in refs.index.records["default"].values() if c.path == "server.md"]
    terms = dict.fromkeys(keyword_terms("--reload"), 1.0)

    without_server = replace(main, files={p: s for p, s in main.files.items() if p != "server.md"})
    assert await refs.texts(without_server, "--reload") == []
    assert await refs.texts(release, "--reload") == [shared.text]
    assert await matching(refs.keywords, terms, [shared.id])

    without_server_either = replace(release, files={p: s for p, s in release.files.items() if p != "server.md"})
    assert await refs.texts(without_server_either, "--reload") == []
    assert await matching(refs.keywords, terms, [shared.id]) == set()  # no ref names it: it left the postings
    assert len(refs.reads) == 2


async def test_a_ref_chunked_anew_leaves_the_other_refs_results_as_they_were() -> None:
    refs = Refs()
    release, main = await refs.indexed(RELEASE, RELEASE_FILES, "1"), await refs.indexed(MAIN, MAIN_FILES, "1")
    await refs.texts(release, "index")
    await refs.texts(main, "index")
    before = sorted(await refs.texts(release, "UV_INDEX_URL --reload model_validator pip"))

    recut = await refs.indexed(MAIN, MAIN_FILES)  # the same files, cut by the current chunker
    hits = await refs.keywords.query("default", {"uv_index_url": 1.0}, 10, {REPO: recut})

    assert [hit.chunk.id for hit in hits] == [_chunk("settings.md", MAIN_FILES["settings.md"]).id]
    assert sorted(await refs.texts(release, "UV_INDEX_URL --reload model_validator pip")) == before  # scores may move
    assert refs.reads == [None, frozenset({main.files["settings.md"]}), None]  # the recut is read, whole

    release_recut = await refs.indexed(RELEASE, RELEASE_FILES)
    assert await refs.texts(release_recut, "UV_INDEX_URL") == [RELEASE_FILES["settings.md"]]
    assert refs.reads[3:] == [frozenset({release.files["settings.md"]})]  # the rest was recut at main already


def test_a_ref_swap_adds_what_no_ref_held_and_drops_what_no_ref_names() -> None:
    refs = RefVersions()
    a, b, c = ("2", "a.md", "sha-a"), ("2", "b.md", "sha-b"), ("2", "c.md", "sha-c")
    assert refs.swap_to("v1", frozenset({a, b})) == Swap(frozenset({a, b}), frozenset())
    refs.record("v1", frozenset({a, b}))

    assert refs.swap_to(None, frozenset({a, c})) == Swap(frozenset({c}), frozenset())  # a is held by v1
    refs.record(None, frozenset({a, c}))
    assert refs.hidden_from("v1") == {c} and refs.hidden_from(None) == {b}

    assert refs.swap_to("v1", frozenset({a})) == Swap(frozenset(), frozenset({b}))
    assert refs.swap_to(None, frozenset({a, c})).changes_nothing


async def test_bm25_prefers_rare_terms_and_shorter_chunks() -> None:
    refs = Refs()
    texts = {
        "common.md": "the path of a file, the path again",
        "rare.md": "pathlib.Path.glob finds files",
        "long.md": "glob " + "padding words here " * 30,
        "short.md": "glob patterns",
    }
    manifest = await refs.indexed(MAIN, texts)

    ranked = await refs.texts(manifest, "glob")

    assert ranked[0] == texts["short.md"] and ranked.index(texts["rare.md"]) < ranked.index(texts["long.md"])
    assert texts["common.md"] not in ranked


async def test_a_forgotten_ref_takes_only_the_versions_no_other_ref_names_and_a_gone_collection_everything() -> None:
    refs = Refs()
    release, main = await refs.indexed(RELEASE, RELEASE_FILES), await refs.indexed(MAIN, MAIN_FILES)
    await refs.texts(release, "index")
    await refs.texts(main, "index")
    release_only, shared = (
        _chunk("settings.md", RELEASE_FILES["settings.md"]),
        _chunk("cli.md", RELEASE_FILES["cli.md"]),
    )
    terms = dict.fromkeys(keyword_terms("UV_INDEX_URL pip install"), 1.0)
    assert (await matching(refs.keywords, terms, [release_only.id, shared.id])) == {
        release_only.id,
        shared.id,
    }

    await refs.keywords.retain("default", {(REPO, MAIN)})  # the release's manifest is gone

    assert (await matching(refs.keywords, terms, [release_only.id, shared.id])) == {shared.id}
    assert await refs.texts(main, "UV_INDEX_URL") == [MAIN_FILES["settings.md"]]

    await refs.keywords.retain("default", [])  # no manifest left in the collection

    assert await matching(refs.keywords, terms, [release_only.id, shared.id]) == set()


async def test_a_search_after_a_repository_is_forgotten_drops_its_chunks_from_the_keyword_index() -> None:
    world = World(FILES)
    await world.index_files()
    await world.paths("UV_INDEX_URL")
    ids = [chunk.id for chunk, _ in world.index.records["default"].values()]
    terms = dict.fromkeys(keyword_terms("UV_INDEX_URL --reload model_validator"), 1.0)
    assert len(await matching(world.keywords, terms, ids)) == len(FILES)

    await ForgetRepository(world.manifests, world.index).execute(SPEC.repository_id)
    assert await world.paths("UV_INDEX_URL") == []

    assert await matching(world.keywords, terms, ids) == set()


def test_forgetting_several_refs_at_once_keeps_the_others_records_and_ends_the_write(tmp_path: Path) -> None:
    synced = SyncedRefs(tmp_path)
    for ref in ("v1", "v2", None):
        synced.begin(REPO)
        synced.save(REPO, ref, frozenset({(CHUNKER_VERSION, "a.md", f"sha-{ref}")}))
    synced.begin(REPO)

    synced.forget_refs(REPO, ["v1", "v2"])

    assert synced.interrupted() == []
    assert list(synced.load()[REPO].refs) == [None]


async def matching(keywords: TantivyKeywordIndex, terms: dict[str, float], ids: list[str]) -> set[str]:
    """The chunks of `ids` the index holds that match `terms` (without catching up: no live manifests)."""
    found = await keywords.chunks("default", ids, {}, terms)
    return {key for key, (_, score) in found.items() if score is not None}


class FailingReads(InMemoryVectorIndex):
    """Fails each read of the stored chunks of the repositories in `failing`, as a Chroma outage would."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()

    async def keyword_chunks(
        self, collection: str, repository: str, blob_shas: Collection[str] | None = None
    ) -> list[KeywordChunk]:
        if repository in self.failing:
            self.chunk_reads.append((repository, None))
            raise UpstreamUnavailable(f"Chroma failed to read {repository}'s chunks")
        return await super().keyword_chunks(collection, repository, blob_shas)


async def test_a_catch_up_failing_on_one_repository_keeps_those_before_and_reads_the_rest_next_time() -> None:
    index = FailingReads()
    keywords = TantivyKeywordIndex(index)
    live: dict[str, Manifest] = {}
    for number in range(7):
        repository = f"acme/repo-{number}"
        text = f"quokka{number} shared words"
        sha = git_blob_sha(text.encode())
        chunk = Chunk(chunk_id(repository, "a.md", sha, 0), repository, "a.md", sha, "", 0, text, 1, 1)
        await index.upsert("default", "hashing", [chunk], [[1.0]])
        files = {"a.md": chunk.blob_sha}
        live[repository] = Manifest(repository, "github", "c", files, {"a.md": 1}, chunker=CHUNKER_VERSION)
    index.failing = {"acme/repo-3"}
    terms = dict.fromkeys(keyword_terms("shared words"), 1.0)

    with pytest.raises(UpstreamUnavailable):
        await keywords.query("default", terms, 10, live)

    read = [repository for repository, _ in index.chunk_reads]
    assert read[:4] == [f"acme/repo-{n}" for n in range(4)] and len(read) <= 3 + READ_AHEAD  # never far ahead
    index.failing = set()
    hits = await keywords.query("default", terms, 10, live)
    assert sorted(hit.chunk.repository for hit in hits) == sorted(live)
    assert [repository for repository, _ in index.chunk_reads[len(read) :]] == [f"acme/repo-{n}" for n in range(3, 7)]
