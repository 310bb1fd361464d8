"""What a caller must not be able to do, each found by a security review of issue 20 (a test each).

Each failed on 4f498c4, proving one finding of the review.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.sources.local_folder import LocalFolderSource
from application.access import IdentifyCaller, RepositoryAccess
from application.indexing import IndexRepository
from application.jobs import SubmitIndexJob
from application.keys import KEY_PREFIX, CreateKey, ListKeys
from application.reading import ReadFileRequest, ReadIndexedFile
from application.repositories import ForgetRepository
from domain.access import Caller, GitHubUser, Role, Scope
from domain.errors import InvalidInput, NotAllowed, NotFound, RepochatError
from domain.jobs import IndexRequest
from domain.sources import SourceKind, SourceSpec
from domain.sync import SyncStatus
from entrypoints.source_input import LocalFolders, source_spec
from tests.unit.fakes import (
    FakeSource,
    InMemoryKeyStore,
    InMemoryManifestStore,
    InMemorySyncStatusStore,
    InMemoryVectorIndex,
    RecordingEmbedder,
    RecordingJobQueue,
    ScriptedGitHubPermissions,
)

SECRET = "acme/secret"
"""Team A's private repository, which the server's GITHUB_TOKEN can read."""


class FakeGitHubSource(FakeSource):
    """GitHub as the server's GITHUB_TOKEN sees it: every repository reads as these files."""

    def handles(self, spec: SourceSpec) -> bool:
        return spec.kind is SourceKind.GITHUB


def github(repository: str) -> SourceSpec:
    return SourceSpec(SourceKind.GITHUB, repository)


async def test_an_index_key_scoped_to_its_collection_cannot_pull_another_teams_private_repository() -> None:
    """README advises a collection per team; a team's index key (`--role index --collection team-b`) then
    has every repository in scope, so it indexes team A's private repository with the server's token into
    team-b and reads it: issue 20's own example of what must not happen."""
    team_b = Caller("key:team-b-ci", Role.INDEX, Scope(collections=("team-b",)))
    source = FakeGitHubSource({"PASSWORDS.md": "the production password is hunter2\n"})
    request = IndexRequest(github(SECRET), "team-b")
    manifests = InMemoryManifestStore()

    try:
        await SubmitIndexJob(RecordingJobQueue(), [source]).execute(request, team_b)
    except (NotFound, NotAllowed):
        return
    await IndexRepository([source], RecordingEmbedder(), InMemoryVectorIndex(), manifests).execute(request)  # worker
    read = await ReadIndexedFile([source], manifests).execute(ReadFileRequest(SECRET, "PASSWORDS.md", caller=team_b))
    pytest.fail(f"team B's index key read team A's private repository: {read.text!r}")


async def test_a_scoped_admin_key_cannot_make_itself_an_unscoped_one() -> None:
    """`keys create NAME --role admin --collection team-a` is accepted, and that key then creates a key that
    sees everything (and lists and revokes every other team's keys)."""
    keys = InMemoryKeyStore()
    team_admin = Caller("key:team-a-admin", Role.ADMIN, Scope(collections=("team-a",)))
    try:
        created = await CreateKey(keys).execute("root", Role.ADMIN, caller=team_admin)
    except (NotAllowed, RepochatError):
        return
    assert not created.stored.scope.is_everything, "a key scoped to team-a created an admin key of every scope"
    assert len(await ListKeys(keys).execute(caller=team_admin)) == 1


async def test_github_is_asked_alike_whether_an_unreadable_repository_is_indexed_or_not() -> None:
    """GitHub is asked about a repository only when it is indexed, with the caller's own token: the caller
    sees each check on its rate limit (`GET /rate_limit`) and in the time the 404 takes, so it learns that a
    private repository it cannot read is indexed here, where it should be as if it did not exist."""
    manifests = InMemoryManifestStore()
    source = FakeGitHubSource({"README.md": "# secret\n"})
    await IndexRepository([source], RecordingEmbedder(), InMemoryVectorIndex(), manifests).execute(
        IndexRequest(github(SECRET))
    )
    permissions = ScriptedGitHubPermissions({"gho_bob": "bob"}, {"bob": set()})
    bob = Caller("github:bob", Role.READ, github_user=GitHubUser("bob", "gho_bob"))
    reader = ReadIndexedFile([source], manifests, RepositoryAccess(permissions))

    for repository in (SECRET, "acme/not-indexed"):
        with pytest.raises(NotFound):
            await reader.execute(ReadFileRequest(repository, "README.md", caller=bob))
        assert permissions.asked == [("bob", frozenset({repository}))], "GitHub asked about the indexed one only"
        permissions.asked.clear()


async def test_a_read_key_deletes_no_sync_status_when_it_is_refused_forgetting() -> None:
    """ForgetRepository deletes the caller's visible sync statuses before it checks the index role."""
    reader = Caller("key:reader", Role.READ, Scope(repositories=("acme/*",)))
    statuses = InMemorySyncStatusStore()
    status = SyncStatus("default", "acme/docs", last_error="GitHub answered 502", consecutive_failures=3)
    await statuses.save(status)
    index = InMemoryVectorIndex()
    await index.upsert("default", "fake", [], [])  # the collection exists

    with pytest.raises((NotAllowed, NotFound)):
        await ForgetRepository(InMemoryManifestStore(), index, statuses).execute("acme/docs", caller=reader)
    assert await statuses.get(status.key) == status, "a read key deleted a sync status"


async def test_a_repochat_key_that_is_not_accepted_is_never_sent_to_github() -> None:
    """A revoked or mistyped `rc_` key is a repochat key: sending it to GitHub would hand it to a third party."""
    github = ScriptedGitHubPermissions({"gho_alice": "alice"})
    identify = IdentifyCaller(frozenset(), InMemoryKeyStore(), github)

    assert await identify.execute(KEY_PREFIX + "revoked") is None
    assert (await identify.execute("gho_alice")) == Caller(
        "github:alice", Role.READ, github_user=GitHubUser("alice", "gho_alice")
    )
    assert github.tokens_sent == ["gho_alice"]


@pytest.mark.parametrize(
    ("role", "scope", "message"),
    [
        (Role.ADMIN, Scope(collections=("team-a",)), "an admin key sees every collection"),
        (Role.INDEX, Scope(collections=("team-b",)), "must name the repositories it may index"),
    ],
)
async def test_keys_whose_scope_would_not_hold_are_refused(role: Role, scope: Scope, message: str) -> None:
    keys = InMemoryKeyStore()
    with pytest.raises(InvalidInput, match=message):
        await CreateKey(keys).execute("team", role, scope)
    assert await keys.all() == []
    await CreateKey(keys).execute("team-b-ci", Role.INDEX, Scope(("team-b",), ("team-b/*",)))


async def test_a_scoped_key_cannot_tell_which_folders_exist_under_the_local_roots(tmp_path: Path) -> None:
    """A read key was told 400 "does not exist" for a missing folder and 403 for an existing one; an index key
    scoped to `docs*` 400 for a missing folder and 404 for an existing one out of its scope; and the 404 named
    the folder's real path, which told which of two roots holds a relative name, or where a link leads."""
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first / "secret", second / "handbook"):
        folder.mkdir(parents=True)
    (first / "link").symlink_to(second / "handbook")
    roots = LocalFolders((first, second), any_files=False)
    reader = Caller("key:reader", Role.READ, Scope(("docs",), ("local:*",)))
    indexer = Caller("key:indexer", Role.INDEX, Scope(("docs",), (f"local:{first}/docs*",)))
    submit = SubmitIndexJob(RecordingJobQueue(), [LocalFolderSource()])

    async def refusal(caller: Caller, name: str) -> tuple[type[RepochatError], str]:
        with pytest.raises(RepochatError) as refused:
            await submit.execute(IndexRequest(source_spec(name, local=roots), "docs"), caller)
        return type(refused.value), refused.value.message

    for caller in (reader, indexer):
        answers = {await refusal(caller, name) for name in ("./secret", "./handbook", "./nothere", "./link")}
        assert len(answers) == 1, answers
    assert (await refusal(indexer, "./docs-missing"))[0] is InvalidInput  # in its scope, it may be told
