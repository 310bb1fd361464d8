"""Local folders for remote callers: only inside REPOCHAT_LOCAL_ROOTS, after symlinks, never from the cwd."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.sources.local_folder import LocalFolderSource
from domain.errors import InvalidInput, NotAllowed
from domain.sources import SourceKind
from entrypoints.settings import Settings
from entrypoints.source_input import LocalFolders, source_spec


@pytest.fixture
def srv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/srv with a root `docs` (holding `guide/`), a sibling `docs2`, a secret folder, and the cwd `app`."""
    srv = tmp_path / "srv"
    for folder in ("docs/guide", "docs2", "secret", "app/guide"):
        (srv / folder).mkdir(parents=True)
    (srv / "docs" / "escape").symlink_to(srv / "secret")
    (srv / "docs" / "inside").symlink_to(srv / "docs" / "guide")
    monkeypatch.chdir(srv / "app")
    return srv


def confined(srv: Path, any_files: bool = False) -> LocalFolders:
    return LocalFolders((srv / "docs",), any_files)


def location(text: str, local: LocalFolders, include: tuple[str, ...] = ()) -> str:
    spec = source_spec(text, include=include, local=local)
    assert spec.kind is SourceKind.LOCAL
    return spec.location


def test_folders_inside_a_root_and_the_root_itself_are_allowed(srv: Path) -> None:
    docs = srv / "docs"
    assert location(str(docs / "guide"), confined(srv)) == str(docs / "guide")
    assert location(str(docs), confined(srv)) == str(docs)
    assert location(str(docs / "inside"), confined(srv)) == str(docs / "guide")  # named by its real path


@pytest.mark.parametrize("name", ["/etc", "secret", "docs2", "docs/escape", "docs/guide/../../secret", "docs/.."])
def test_folders_outside_every_root_are_not_allowed(srv: Path, name: str) -> None:
    text = name if name.startswith("/") else str(srv / name)
    with pytest.raises(NotAllowed, match="outside the folders this server may index"):
        source_spec(text, local=confined(srv))


@pytest.mark.parametrize("text", ["..", "../../etc", "../secret", "./escape"])
def test_relative_paths_resolve_against_the_roots_never_the_cwd(srv: Path, text: str) -> None:
    with pytest.raises(NotAllowed):
        source_spec(text, local=confined(srv))


def test_a_relative_path_is_taken_from_the_roots(srv: Path) -> None:
    assert location("./guide", confined(srv)) == str(srv / "docs" / "guide")  # not the cwd's app/guide
    assert location(".", confined(srv)) == str(srv / "docs")
    two_roots = LocalFolders((srv / "docs2", srv / "docs"), any_files=False)
    assert location("./guide", two_roots) == str(srv / "docs" / "guide")  # the first root holding it


def test_a_bare_name_is_github_for_remote_callers_even_when_the_cwd_holds_it(srv: Path) -> None:
    (srv / "app" / "guide" / "sub").mkdir()
    assert source_spec("guide/sub", local=confined(srv)).kind is SourceKind.GITHUB
    assert source_spec("guide/sub").kind is SourceKind.LOCAL  # the CLI trusts its working directory


async def test_a_missing_folder_is_told_only_inside_the_roots_and_by_the_source(srv: Path) -> None:
    """The source says it once the caller may index the folder (SubmitIndexJob), not the parsing before."""
    missing = source_spec(str(srv / "docs" / "missing"), local=confined(srv))
    assert missing.location == str(srv / "docs" / "missing")
    with pytest.raises(InvalidInput, match="does not exist"):
        await LocalFolderSource().check(missing)
    with pytest.raises(NotAllowed):
        source_spec(str(srv / "missing"), local=confined(srv))


def test_without_roots_no_local_folder_is_allowed_and_the_message_says_how(srv: Path) -> None:
    with pytest.raises(NotAllowed) as refused:
        source_spec(str(srv / "docs"), local=LocalFolders(roots=(), any_files=False))
    assert "REPOCHAT_LOCAL_ROOTS" in refused.value.message
    assert source_spec("owner/repo", local=LocalFolders(roots=())).kind is SourceKind.GITHUB


def test_include_globs_beyond_the_default_kinds_need_the_setting(srv: Path) -> None:
    docs = str(srv / "docs")
    with pytest.raises(NotAllowed, match="REPOCHAT_LOCAL_ALLOW_ANY_FILES"):
        source_spec(docs, include=["*.md", "*"], local=confined(srv))
    assert location(docs, confined(srv), include=("guide/**/*.md",)) == docs
    assert location(docs, confined(srv, any_files=True), include=("*",)) == docs
    assert source_spec("owner/repo", include=["*"], local=confined(srv)).include == ("*",)  # GitHub: public files


def test_the_cli_trusts_any_folder_relative_to_its_cwd(srv: Path) -> None:
    assert location("..", LocalFolders()) == str(srv)
    assert location("guide", LocalFolders(), include=("*",)) == str(srv / "app" / "guide")


def test_the_settings_list_roots_by_path_separator_with_symlinks_resolved(srv: Path) -> None:
    (srv / "link").symlink_to(srv / "docs")
    settings = Settings(local_roots=f"{srv / 'link'}{os.pathsep} {srv / 'docs2'} {os.pathsep}")
    assert settings.local_root_paths == (srv / "docs", srv / "docs2")
    assert LocalFolders.for_remote_callers(settings) == LocalFolders((srv / "docs", srv / "docs2"), False)
    assert LocalFolders.for_remote_callers(Settings(local_roots=None)).roots == ()


async def test_remote_callers_cannot_probe_user_names_with_a_tilde(srv: Path) -> None:
    """`~root` (a user that exists) and `~nosuchuser` are the same: a name under the roots that is not there."""
    outcomes = set()
    for name in ("~root", "~nosuchuser", "~"):
        spec = source_spec(f"{name}/docs", local=confined(srv))
        assert spec.location == str(srv / "docs" / name / "docs")
        with pytest.raises(InvalidInput) as refused:
            await LocalFolderSource().check(spec)
        outcomes.add(refused.value.message.replace(name, "NAME"))
    assert outcomes == {f"folder '{srv / 'docs' / 'NAME' / 'docs'}' does not exist or is not a folder"}


def test_a_folder_named_with_a_tilde_is_taken_from_the_roots(srv: Path) -> None:
    (srv / "docs" / "~team").mkdir()
    assert location("~team", confined(srv)) == str(srv / "docs" / "~team")


def test_the_cli_expands_its_users_home(srv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(srv / "docs"))
    assert location("~/guide", LocalFolders()) == str(srv / "docs" / "guide")
