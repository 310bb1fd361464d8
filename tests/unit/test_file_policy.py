"""Which files are indexed by default, and how include/exclude globs change it."""

from __future__ import annotations

import pytest

from domain.file_policy import FilePolicy, SkipReason, beyond_default_kinds, decode_text, is_safe_relative_path


@pytest.mark.parametrize("path", ["README.md", "docs/guide/intro.mdx", "src/app/main.py", "Makefile", "LICENSE"])
def test_docs_and_source_text_are_indexed_by_default(path: str) -> None:
    assert FilePolicy().check(path, 100) is None


@pytest.mark.parametrize(
    "path",
    ["node_modules/x/index.js", "vendor/lib.go", "web/app.min.js", "poetry.lock", "package-lock.json", "img/logo.png"],
)
def test_vendored_lock_minified_and_unknown_files_are_filtered(path: str) -> None:
    assert FilePolicy().check(path, 100) is SkipReason.FILTERED


def test_large_files_are_skipped() -> None:
    assert FilePolicy(max_bytes=10).check("a.md", 11) is SkipReason.TOO_LARGE


def test_include_replaces_the_default_list_and_exclude_adds_to_it() -> None:
    docs_only = FilePolicy(include=("docs/**",))
    assert docs_only.check("docs/a/b.json", 1) is None
    assert docs_only.check("src/a.md", 1) is SkipReason.FILTERED
    no_tests = FilePolicy(exclude=("tests/**", "*.py"))
    assert no_tests.check("tests/a.md", 1) is SkipReason.FILTERED
    assert no_tests.check("src/deep/a.py", 1) is SkipReason.FILTERED
    assert no_tests.check("src/a.md", 1) is None


def test_binary_content_is_recognised() -> None:
    assert decode_text(b"plain text\n") == "plain text\n"
    assert decode_text(b"\x89PNG\0\0") is None
    assert decode_text(b"\xff\xfe latin junk") is None


@pytest.mark.parametrize(
    ("path", "safe"), [("a/b.md", True), ("/etc/passwd", False), ("a/../../b", False), ("", False)]
)
def test_paths_escaping_the_root_are_unsafe(path: str, safe: bool) -> None:
    assert is_safe_relative_path(path) is safe


@pytest.mark.parametrize("glob", ["*.md", "docs/**/*.py", "**.rst", "guide-*.MD", "Makefile", "README.*", "license"])
def test_globs_within_the_default_kinds(glob: str) -> None:
    assert beyond_default_kinds([glob]) == ()


@pytest.mark.parametrize("glob", ["*", "**", "docs/**", "*.md*", "README*", ".env", "id_rsa", "*.pem", "secrets/*"])
def test_globs_that_may_reach_other_files(glob: str) -> None:
    assert beyond_default_kinds(["*.md", glob]) == (glob,)


@pytest.mark.parametrize("path", ["a.md", "x/README.key", "deep/er/guide-1.md", "Makefile", "m.py", ".env", "id_rsa"])
def test_what_a_glob_within_the_default_kinds_matches_is_indexed_without_it(path: str) -> None:
    for glob in ("*.md", "**/*.py", "README.*", "Makefile", "guide-*.MD"):
        if FilePolicy(include=(glob,)).check(path, 1) is None:
            assert FilePolicy().check(path, 1) is None, (glob, path)
