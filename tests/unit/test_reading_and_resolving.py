"""ReadIndexedFile and ResolveRepository against recording fakes; the name-matching rule itself."""

from __future__ import annotations

import pytest

from application.indexing import IndexRepository
from application.reading import ReadFileRequest, ReadIndexedFile
from application.repositories import ResolveRepository
from domain.documents import Manifest
from domain.errors import InvalidInput, NotFound
from domain.jobs import IndexRequest
from domain.repository_names import rank_by_name
from domain.sources import SourceKind, SourceSpec, spec_of_description
from tests.unit.fakes import FakeSource, InMemoryManifestStore, InMemoryVectorIndex, RecordingEmbedder

SPEC = SourceSpec(SourceKind.LOCAL, "/repo")
GUIDE = "# Guide\n\nline three\nline four\n\n## Part\n\nline eight\n"


@pytest.fixture
async def indexed() -> tuple[FakeSource, InMemoryManifestStore]:
    source, manifests = FakeSource({"guide.md": GUIDE, "api.md": "# API\n"}), InMemoryManifestStore()
    await IndexRepository([source], RecordingEmbedder(), InMemoryVectorIndex(), manifests).execute(IndexRequest(SPEC))
    return source, manifests


async def test_read_returns_exactly_the_asked_lines_of_the_indexed_version(
    indexed: tuple[FakeSource, InMemoryManifestStore],
) -> None:
    source, manifests = indexed
    excerpt = await ReadIndexedFile([source], manifests).execute(ReadFileRequest("local:/repo", "guide.md", 3, 4))
    assert excerpt.text == "line three\nline four"
    assert (excerpt.start_line, excerpt.end_line, excerpt.total_lines) == (3, 4, 8)
    assert excerpt.url == "file:///fake/guide.md#L3-L4"
    assert source.reads[-1] == "guide.md"


async def test_read_without_a_range_reads_to_the_end_and_clamps_past_it(
    indexed: tuple[FakeSource, InMemoryManifestStore],
) -> None:
    source, manifests = indexed
    whole = await ReadIndexedFile([source], manifests).execute(ReadFileRequest("local:/repo", "guide.md"))
    assert whole.text == GUIDE.rstrip("\n") and whole.end_line == 8
    tail = await ReadIndexedFile([source], manifests).execute(ReadFileRequest("local:/repo", "guide.md", 8, 99))
    assert tail.text == "line eight" and tail.end_line == 8


async def test_read_refuses_what_was_not_indexed_or_changed_since(
    indexed: tuple[FakeSource, InMemoryManifestStore],
) -> None:
    source, manifests = indexed
    read = ReadIndexedFile([source], manifests)
    with pytest.raises(NotFound, match="not indexed"):
        await read.execute(ReadFileRequest("owner/other", "guide.md"))
    with pytest.raises(NotFound, match="not a file indexed"):
        await read.execute(ReadFileRequest("local:/repo", "missing.md"))
    with pytest.raises(InvalidInput, match="past its end"):
        await read.execute(ReadFileRequest("local:/repo", "guide.md", 50))
    with pytest.raises(InvalidInput, match="start_line"):
        await read.execute(ReadFileRequest("local:/repo", "guide.md", 4, 3))
    source.binary.add("guide.md")  # the source no longer yields that version
    with pytest.raises(NotFound, match="no longer readable"):
        await read.execute(ReadFileRequest("local:/repo", "guide.md"))


async def test_resolve_ranks_named_repositories_first() -> None:
    manifests = InMemoryManifestStore()
    for repository, source in [
        ("tiangolo/fastapi", "github:tiangolo/fastapi"),
        ("hatchet-dev/hatchet", "github:hatchet-dev/hatchet"),
        ("local:/corpora/fastapi-docs", "/corpora/fastapi-docs"),
        ("local:/corpora/python-docs", "/corpora/python-docs"),
    ]:
        await manifests.save("default", Manifest(repository, source, "c0ffee"))
    resolve = ResolveRepository(manifests)

    assert [m.entry.manifest.repository for m in await resolve.execute("fastapi")] == [
        "tiangolo/fastapi",
        "local:/corpora/fastapi-docs",
    ]
    assert (await resolve.execute("hatchet python sdk"))[0].entry.manifest.repository == "hatchet-dev/hatchet"
    assert (await resolve.execute("python docs"))[0].entry.manifest.repository == "local:/corpora/python-docs"
    assert await resolve.execute("kubernetes") == []
    with pytest.raises(InvalidInput):
        await resolve.execute("  ")


def test_common_words_weigh_less_than_distinctive_ones() -> None:
    candidates = {"vite": ["vitejs/vite"], "a": ["local:/c/fastapi-docs"], "b": ["local:/c/react-docs"]}
    ranked = rank_by_name("vite docs", candidates)
    assert ranked[0][0] == "vite" and ranked[0][1] > 2 * ranked[1][1]
    assert rank_by_name("FastAPI", {"x": ["tiangolo/fastapi"]}) == [("x", 2.0)]
    assert rank_by_name("fast", {"x": ["tiangolo/fastapi"]}) == [("x", 0.5)]


@pytest.mark.parametrize(
    "spec",
    [
        SourceSpec(SourceKind.GITHUB, "owner/repo", "v1", None, ("docs/**",), ()),
        SourceSpec(SourceKind.GITHUB, "owner/repo", None, "docs/en", (), ("*.png",)),
        SourceSpec(SourceKind.LOCAL, "/srv/docs", None),
    ],
)
def test_a_source_description_reads_back_as_the_same_spec(spec: SourceSpec) -> None:
    assert spec_of_description(spec.description, spec.ref, spec.include, spec.exclude) == spec
