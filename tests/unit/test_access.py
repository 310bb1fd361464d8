"""Who may read what: roles, scopes, GitHub users, and every use case a remote caller reaches keeping to them."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from adapters.keyword.tantivy_index import TantivyKeywordIndex
from application.access import RepositoryAccess
from application.indexing import IndexRepository
from application.jobs import CancelJob, GetJob, ListJobs, SubmitIndexJob
from application.reading import ReadFileRequest, ReadIndexedFile
from application.repositories import ForgetRepository, GetRepository, ListRepositories, ResolveRepository
from application.search import SearchDocuments, SearchRequest
from domain.access import LOCAL_USER, Caller, GitHubUser, Role, Scope
from domain.errors import NotAllowed, NotFound
from domain.jobs import IndexRequest
from domain.retrieval import RetrievalMode
from domain.sources import SourceKind, SourceSpec
from tests.unit.fakes import (
    FakeSource,
    InMemoryManifestStore,
    InMemoryVectorIndex,
    RecordingEmbedder,
    RecordingJobQueue,
)

TEAMS = [f"/teams/team-{n}" for n in range(12)]
MINE = "local:/teams/team-3"
TEAM_3 = Caller("key:team-3", Role.READ, Scope(repositories=("local:/teams/team-3",)))
INDEXER = Caller("key:indexer", Role.INDEX, Scope(repositories=("local:/teams/team-3",)))


class RecordingGitHubPermissions:
    """GitHub as a table of what each login may read; records each question asked."""

    def __init__(self, readable: dict[str, set[str]]) -> None:
        self._readable = readable
        self.asked: list[tuple[str, frozenset[str]]] = []

    async def user(self, token: str) -> GitHubUser | None:
        return GitHubUser(token, token) if token in self._readable else None

    async def readable(self, user: GitHubUser, repositories: Collection[str]) -> frozenset[str]:
        self.asked.append((user.login, frozenset(repositories)))
        return frozenset(r.lower() for r in repositories if r.lower() in self._readable[user.login])


class Indexed:
    """Twelve teams' folders, one collection, each saying the same words."""

    def __init__(self) -> None:
        self.embedder, self.index, self.manifests = RecordingEmbedder(), InMemoryVectorIndex(), InMemoryManifestStore()

    async def fill(self) -> Indexed:
        for team in TEAMS:
            files = {f"{n}.md": f"# Deploy {n}\n\ndeploy the service with the runbook {n}\n" for n in range(4)}
            source = FakeSource(files)
            spec = SourceSpec(SourceKind.LOCAL, team)
            await IndexRepository([source], self.embedder, self.index, self.manifests).execute(IndexRequest(spec))
        return self

    def search(self) -> SearchDocuments:
        return SearchDocuments(self.embedder, self.index, self.manifests, TantivyKeywordIndex(self.index))


@pytest.fixture
async def indexed() -> Indexed:
    return await Indexed().fill()


def test_roles_cover_the_ones_below_them() -> None:
    assert Role.ADMIN.covers(Role.INDEX) and Role.INDEX.covers(Role.READ) and Role.READ.covers(Role.READ)
    assert not Role.READ.covers(Role.INDEX) and not Role.INDEX.covers(Role.ADMIN)
    with pytest.raises(NotAllowed, match="key:team-3 has the read role; this needs the index role"):
        TEAM_3.require(Role.INDEX)


def test_a_scope_admits_its_collections_and_repository_globs() -> None:
    scope = Scope(collections=("docs",), repositories=("acme/*", "local:/teams/*"))
    assert scope.admits("docs", "acme/api") and scope.admits("docs", "ACME/Web/docs")
    assert scope.admits("docs", "local:/teams/team-1")
    assert not scope.admits("docs", "other/api") and not scope.admits("default", "acme/api")
    assert Scope().admits("anything", "any/repo") and Scope().is_everything


async def test_a_github_user_sees_the_github_repositories_github_lets_it_read() -> None:
    github = RecordingGitHubPermissions({"octocat": {"acme/public", "acme/private"}})
    caller = Caller("github:octocat", Role.READ, github_user=GitHubUser("octocat", "t"))
    repositories = ["acme/public", "acme/private/docs", "acme/secret", "local:/home/me/notes"]

    seen = await RepositoryAccess(github).keep(caller, repositories, lambda r: ("default", r))

    assert seen == ["acme/public", "acme/private/docs"]
    assert github.asked == [("octocat", frozenset({"acme/public", "acme/private", "acme/secret"}))]
    assert await RepositoryAccess().keep(caller, repositories, lambda r: ("default", r)) == []  # fail closed


async def test_a_scoped_search_returns_k_hits_of_its_repositories_only(indexed: Indexed) -> None:
    search = indexed.search()
    for mode in RetrievalMode:
        found = await search.execute(SearchRequest("deploy the service runbook", k=4, mode=mode, caller=TEAM_3))
        assert [hit.chunk.repository for hit in found.hits] == [MINE] * 4, mode
    assert indexed.index.queries[-1].repositories == {MINE}  # the dense leg is filtered, not trimmed afterwards
    everyone = await search.execute(SearchRequest("deploy the service runbook", k=8, caller=LOCAL_USER))
    assert len({hit.chunk.repository for hit in everyone.hits}) > 1


async def test_out_of_scope_repositories_are_not_indexed_to_the_caller(indexed: Indexed) -> None:
    other = "local:/teams/team-5"
    listed = await ListRepositories(indexed.manifests).execute(caller=TEAM_3)
    assert [entry.manifest.repository for entry in listed] == [MINE]
    assert [
        m.entry.manifest.repository for m in await ResolveRepository(indexed.manifests).execute("team", 20, TEAM_3)
    ] == [MINE]
    with pytest.raises(NotFound, match="is not indexed"):
        await GetRepository(ListRepositories(indexed.manifests)).execute(other, TEAM_3)
    reader = ReadIndexedFile([FakeSource({})], indexed.manifests)
    with pytest.raises(NotFound, match="is not indexed"):
        await reader.execute(ReadFileRequest(other, "0.md", caller=TEAM_3))
    found = await indexed.search().execute(SearchRequest("deploy", repository=other, caller=TEAM_3))
    assert found.hits == ()


async def test_forgetting_needs_the_index_role_and_the_repository_in_scope(indexed: Indexed) -> None:
    forget = ForgetRepository(indexed.manifests, indexed.index)
    with pytest.raises(NotAllowed):
        await forget.execute(MINE, caller=TEAM_3)
    with pytest.raises(NotFound):
        await forget.execute("local:/teams/team-5", caller=INDEXER)
    assert len(await ListRepositories(indexed.manifests).execute()) == len(TEAMS)  # nothing was forgotten
    await forget.execute(MINE, caller=INDEXER)
    assert MINE not in {e.manifest.repository for e in await ListRepositories(indexed.manifests).execute()}


async def test_jobs_of_other_repositories_are_unseen_and_only_indexers_index() -> None:
    queue, sources = RecordingJobQueue(), [FakeSource({})]
    submit = SubmitIndexJob(queue, sources)
    theirs = await submit.execute(IndexRequest(SourceSpec(SourceKind.LOCAL, "/teams/team-5")))
    mine = await submit.execute(IndexRequest(SourceSpec(SourceKind.LOCAL, "/teams/team-3")), INDEXER)
    with pytest.raises(NotAllowed):
        await submit.execute(IndexRequest(SourceSpec(SourceKind.LOCAL, "/teams/team-3")), TEAM_3)
    with pytest.raises(NotFound):
        await submit.execute(IndexRequest(SourceSpec(SourceKind.LOCAL, "/teams/team-5")), INDEXER)

    assert [job.id for job in await ListJobs(queue).execute(caller=TEAM_3)] == [mine.id]
    with pytest.raises(NotFound, match=f"no job with id {theirs.id!r}"):
        await GetJob(queue).execute(theirs.id, TEAM_3)
    with pytest.raises(NotFound):
        await CancelJob(queue).execute(theirs.id, INDEXER)
    with pytest.raises(NotAllowed):
        await CancelJob(queue).execute(mine.id, TEAM_3)
    assert (await CancelJob(queue).execute(mine.id, INDEXER)).state == "cancelled"
