"""parse_source: every accepted form of a GitHub source, and clear errors for the rest."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput
from domain.sources import ACCEPTED_FORMS, SourceKind, SourceSpec, parse_source

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("text", "location", "ref", "subdir"),
    [
        ("owner/repo", "owner/repo", None, None),
        ("  owner/repo\n", "owner/repo", None, None),
        ("my-org/my.repo_name", "my-org/my.repo_name", None, None),
        ("github:owner/repo", "owner/repo", None, None),
        ("github:owner/repo@main", "owner/repo", "main", None),
        ("github:owner/repo@v1.2.3", "owner/repo", "v1.2.3", None),
        ("github:owner/repo@feature/x", "owner/repo", "feature/x", None),
        (f"github:owner/repo@{SHA}", "owner/repo", SHA, None),
        ("https://github.com/owner/repo", "owner/repo", None, None),
        ("https://github.com/owner/repo/", "owner/repo", None, None),
        ("https://github.com/owner/repo.git", "owner/repo", None, None),
        ("http://www.github.com/owner/repo", "owner/repo", None, None),
        ("https://github.com/owner/repo/tree/main", "owner/repo", "main", None),
        ("https://github.com/owner/repo/tree/v2.0/", "owner/repo", "v2.0", None),
        ("https://github.com/owner/repo/tree/main/docs", "owner/repo", "main", "docs"),
        ("https://github.com/owner/repo/tree/v1.0/docs/guide/", "owner/repo", "v1.0", "docs/guide"),
        (f"https://github.com/owner/repo/tree/{SHA}/docs", "owner/repo", SHA, "docs"),
    ],
)
def test_github_forms(text: str, location: str, ref: str | None, subdir: str | None) -> None:
    spec = parse_source(text)

    assert spec == SourceSpec(SourceKind.GITHUB, location, ref, subdir)


def test_an_explicit_ref_wins_over_the_one_in_the_string() -> None:
    assert parse_source("github:owner/repo@main", ref="v1").ref == "v1"
    assert parse_source("https://github.com/owner/repo/tree/main/docs", ref="dev").ref == "dev"
    assert parse_source("owner/repo", ref=SHA).ref == SHA


def test_filters_are_kept() -> None:
    spec = parse_source("owner/repo", include=("docs/**",), exclude=("**/*.txt",))

    assert (spec.include, spec.exclude) == (("docs/**",), ("**/*.txt",))


def test_repository_id_is_case_insensitive_and_includes_the_subdir() -> None:
    assert parse_source("Owner/Repo").repository_id == "owner/repo"
    assert parse_source("https://github.com/Owner/Repo/tree/main/docs").repository_id == "owner/repo/docs"
    assert parse_source("github:owner/repo@v1").repository_id == parse_source("owner/repo").repository_id


@pytest.mark.parametrize("text", ["./docs", "../site", "/srv/docs", "~/notes", "."])
def test_paths_are_local_folders(text: str) -> None:
    assert parse_source(text).kind is SourceKind.LOCAL


def test_the_caller_decides_that_an_existing_folder_wins() -> None:
    assert parse_source("docs/site", looks_like_folder=True).kind is SourceKind.LOCAL
    assert parse_source("docs/site").kind is SourceKind.GITHUB


@pytest.mark.parametrize(
    "text",
    [
        "owner",
        "owner/repo/extra",
        "owner/repo@main",
        "github:owner",
        "github:owner/repo@",
        "github:owner/repo@two words",
        "https://github.com/owner",
        "https://gitlab.com/owner/repo",
        "https://github.com.evil.example/owner/repo",
        "https://github.com/owner/repo/blob/main/README.md",
        "https://github.com/owner/repo/tree/main/../secrets",
        "https://github.com/owner/repo/tree/main/docs/../../x",
        "a/..",
        "owner/.",
        "github:../repo",
        "ftp://github.com/owner/repo",
    ],
)
def test_invalid_sources_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_source(text)

    assert ACCEPTED_FORMS in error.value.message
    assert repr(text.strip()) in error.value.message


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_source(text: str) -> None:
    with pytest.raises(InvalidInput, match="source is empty; accepted forms: owner/repo"):
        parse_source(text)
