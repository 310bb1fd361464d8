"""Path globs: .gitignore's rules, in time that grows with the path, never with the glob's stars."""

from __future__ import annotations

import pytest

from domain.path_globs import compile_glob, matches_any


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("*.md", "README.md", True),
        ("*.md", "docs/deep/guide.md", True),
        ("*.md", "docs/guide.mdx", False),
        ("docs/*.md", "docs/a.md", True),
        ("docs/*.md", "docs/sub/a.md", False),
        ("docs/**/*.md", "docs/a.md", True),
        ("docs/**/*.md", "docs/x/y/z/a.md", True),
        ("docs/**/*.md", "src/docs/a.md", False),
        ("docs/**", "docs/a/b.json", True),
        ("docs/**", "docs", False),
        ("**/tests/**", "tests/a.py", True),
        ("**/tests/**", "pkg/tests/unit/a.py", True),
        ("**/tests/**", "pkg/tests", False),
        ("a/**/b/**/c", "a/b/c", True),
        ("a/**/b/**/c", "a/x/b/y/b/z/c", True),
        ("a/**/b/**/c", "a/x/c/b", False),
        ("guide-?.md", "guide-1.md", True),
        ("guide-?.md", "guide-10.md", False),
        ("*a*b*c*", "xxaxxbxxcxx", True),
        ("*a*b*c*", "xxaxxcxxbxx", False),
        ("docs/**.md", "docs/a.md", True),
        ("docs/**.md", "docs/sub/a.md", False),
        ("**", "any/thing/at/all", True),
        ("Makefile", "tools/Makefile", True),
        ("Makefile", "tools/Makefile.in", False),
        ("a+b(c).md", "a+b(c).md", True),
        ("[ab].md", "a.md", False),
    ],
)
def test_globs_match_as_gitignore_does(glob: str, path: str, matches: bool) -> None:
    assert compile_glob(glob).matches(path) is matches


def test_a_path_matches_any_of_several_globs() -> None:
    assert matches_any("src/app.py", ("*.md", "src/**"))
    assert not matches_any("src/app.py", ("*.md", "docs/**"))
    assert not matches_any("src/app.py", ())


@pytest.mark.timeout(10)
def test_globs_built_to_backtrack_are_answered_at_once() -> None:
    """As a regular expression each of these took seconds to hours on one path."""
    deep = "/".join(f"d{i}" for i in range(40)) + "/y.md"
    assert not compile_glob("**/" * 30 + "x.md").matches(deep)
    assert not compile_glob("**/*/" * 30 + "x.md").matches(deep)
    assert not compile_glob("*a" * 60 + "b").matches("a" * 250)
    assert compile_glob("**/" * 30 + "y.md").matches(deep)
