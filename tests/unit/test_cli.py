"""The `repochat` commands in process: their arguments parsed as the shell gives them, the use cases
overridden by recording fakes, what they print read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from application.answering import AskRequest, GeneratedAnswer
from application.repositories import IndexedRepository
from application.search import SearchRequest, SearchResults
from domain.access import key_hash
from domain.documents import Manifest
from domain.jobs import IndexRequest, Job, JobState
from domain.retrieval import RetrievalMode
from domain.sources import SourceKind, SourceSpec
from entrypoints import cli, cli_commands
from entrypoints.container import Container
from entrypoints.settings import Settings
from entrypoints.views import RepositoryView
from tests.unit.fakes import InMemoryKeyStore, RecordingUseCase

MAIN = Manifest("acme/widgets", "github:acme/widgets", "c0ffee" * 6, {"a.md": "1"}, {"a.md": 2},
                "2026-01-01T00:00:00+00:00", web_url="https://github.com/acme/widgets")  # fmt: skip
V1 = replace(MAIN, commit="0ff1ce" * 6, ref="v1", indexed_at="2026-01-02T00:00:00+00:00")
BOTH = [IndexedRepository("default", MAIN), IndexedRepository("default", V1, searched_by_default=False)]


@pytest.fixture
def container(tmp_path: Path) -> Container:
    settings = Settings(data_dir=tmp_path, embeddings="hashing", job_queue="inprocess", chroma_url=None)
    return Container(settings=settings)


def use(provider: providers.Provider[Any], fake: object) -> None:
    provider.override(providers.Object(fake))


async def command(container: Container, *argv: str) -> int:
    args = cli.argument_parser().parse_args(list(argv))
    return await cli_commands.COMMANDS[args.command](container, args)


@pytest.mark.parametrize(
    ("argv", "repository", "ref"),
    [
        ((), None, None),
        (("--repository", "acme/widgets", "--ref", "v1"), "acme/widgets", "v1"),
        (("--ref", "HEAD"), None, "HEAD"),
    ],
)
async def test_search_and_ask_pass_the_repository_and_the_ref(
    container: Container, argv: tuple[str, ...], repository: str | None, ref: str | None
) -> None:
    search = RecordingUseCase(SearchResults((), RetrievalMode.HYBRID))
    answer = RecordingUseCase(GeneratedAnswer("Nothing.", (), False, search_query="setup"))
    use(container.search, search)
    use(container.answer_question, answer)

    assert await command(container, "search", "setup", "--json", *argv) == 0
    assert await command(container, "ask", "setup?", "--json", *argv) == 0

    assert search.calls == [(SearchRequest("setup", repository=repository, ref=ref),)]
    (asked,) = answer.calls[0]
    assert isinstance(asked, AskRequest) and (asked.repository, asked.ref) == (repository, ref)


async def test_repos_lists_each_ref_with_its_commit_and_marks_the_one_searched_by_default(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    use(container.list_repositories, RecordingUseCase(BOTH))

    assert await command(container, "repos") == 0

    main, v1 = capsys.readouterr().out.splitlines()
    assert main.startswith("acme/widgets @ default branch  [default]  at c0ffeec0ffee, 1 files, 2 chunks")
    assert main.endswith("(searched by default)")
    assert v1.startswith("acme/widgets @ v1  [default]  at 0ff1ce0ff1ce") and "searched by default" not in v1


async def test_repos_json_carries_the_fields_of_the_api_s_repository_view(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    use(container.list_repositories, RecordingUseCase(BOTH))

    assert await command(container, "repos", "--json") == 0

    listed = json.loads(capsys.readouterr().out)["repositories"]
    assert [set(entry) for entry in listed] == [set(RepositoryView.model_fields)] * 2
    assert [(e["ref"], e["commit"], e["searched_by_default"]) for e in listed] == [
        (None, MAIN.commit, True),
        ("v1", V1.commit, False),
    ]


@pytest.mark.parametrize(
    ("argv", "called"),
    [
        ((), ("acme/widgets", None, None)),
        (("--ref", "v1", "--collection", "default"), ("acme/widgets", "default", "v1")),
    ],
)
async def test_forget_passes_the_ref_and_the_collection_and_says_which_refs_went(
    container: Container, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], called: tuple[object, ...]
) -> None:
    forget = RecordingUseCase([BOTH[1]])
    use(container.forget_repository, forget)

    assert await command(container, "forget", "acme/widgets", *argv) == 0

    assert forget.calls == [called]
    assert capsys.readouterr().out == "forgot acme/widgets at v1 in collection default\n"


@pytest.mark.parametrize("subcommand", ["search", "ask", "forget"])
def test_the_help_of_ref_says_what_no_ref_means(subcommand: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.argument_parser().parse_args([subcommand, "--help"])

    help_text = " ".join(capsys.readouterr().out.split())
    assert "--ref REF" in help_text and "HEAD: the default branch" in help_text
    assert ("without it, every ref" if subcommand == "forget" else "without it, each repository") in help_text


async def test_jobs_name_the_ref_of_a_job_of_a_named_ref(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SourceSpec(SourceKind.GITHUB, "acme/widgets")
    default = Job("job-1", "acme/widgets", IndexRequest(spec), JobState.QUEUED, "queued")
    tagged = Job("job-2", "acme/widgets", IndexRequest(replace(spec, ref="v1")), JobState.QUEUED, "queued")
    use(container.list_jobs, RecordingUseCase([default, tagged]))

    assert await command(container, "jobs") == 0

    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("job-1") and first.endswith("acme/widgets")
    assert second.startswith("job-2") and second.endswith("acme/widgets @ v1")


def test_the_arguments_are_parsed_before_anything_heavy_is_imported() -> None:
    heavy = (
        "chromadb",
        "fastapi",
        "dependency_injector",
        "onnxruntime",
        "tantivy",
        "pydantic",
        "entrypoints.container",
    )
    probe = (
        "import sys; from entrypoints import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('loaded:', [m for m in {heavy!r} if m in sys.modules])"
    )
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)

    assert "usage: repochat" in loaded.stdout
    assert loaded.stdout.strip().splitlines()[-1] == "loaded: []"


async def test_keys_create_prints_the_key_alone_list_never_shows_it_and_revoke_ends_it(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = InMemoryKeyStore()
    use(container.key_store, keys)

    argv = ("keys", "create", "docs-team", "--role", "read", "--collection", "handbook", "--repository", "acme/*")
    assert await command(container, *argv) == 0
    created = capsys.readouterr()
    key = created.out.strip()
    assert key.startswith("rc_") and keys.keys["docs-team"].key_hash == key_hash(key)
    assert "read key 'docs-team' for handbook; acme/*" in created.err and key not in created.err

    assert await command(container, "keys", "list") == 0
    listed = capsys.readouterr().out
    assert listed.startswith("docs-team  read   handbook; acme/*  created ") and key not in listed

    assert await command(container, "keys", "revoke", "docs-team") == 0
    assert keys.keys == {}


@pytest.mark.parametrize(
    "argv",
    [("keys",), ("keys", "create", "x"), ("keys", "create", "x", "--role", "owner"), ("keys", "revoke")],
)
def test_a_key_command_missing_what_it_needs_is_a_usage_error(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.argument_parser().parse_args(list(argv))
    assert exited.value.code == 2
