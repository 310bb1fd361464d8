"""Path globs (`docs/**/*.md`, `*.py`) matched in time linear in the path, whatever the glob.

Callers send globs (`include`, `exclude`), so a glob must not be able to make matching
backtrack: `"**/" * 13 + "x.md"` against a path 17 folders deep took seconds per path as a
regular expression. Here a glob is cut at `/` into segments and matched component by
component. Between two `**` segments the fixed segments must match consecutive components,
and taking their first occurrence is always right, so each `**` is one forward scan; within a
name, each `*` is an atomic group that takes the first occurrence of what follows it (as
`fnmatch` does since Python 3.11).

The rules, as .gitignore has them: `**` as a whole segment spans folders (`**/` any number
of them, none included; a trailing `/**` everything inside); any other `*` and `?` stay within
one name, and `**` inside a name is a plain `*`; a glob without a slash matches the file name
in any folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

ANY_FOLDERS = "**"


@dataclass(frozen=True)
class PathGlob:
    """A glob as runs of name patterns between `**` segments."""

    runs: tuple[tuple[re.Pattern[str], ...], ...]
    """`runs[0]` is anchored at the path's start, `runs[-1]` at its end; between runs lies a `**`."""

    def matches(self, path: str) -> bool:
        parts = path.split("/")
        first, last = self.runs[0], self.runs[-1]
        if len(self.runs) == 1:
            return len(parts) == len(first) and _run_matches(first, parts, 0)
        end = len(parts) - len(last)
        if end < len(first) or not _run_matches(first, parts, 0) or not _run_matches(last, parts, end):
            return False
        position = len(first)
        for run in self.runs[1:-1]:
            found = _first_occurrence(run, parts, position, end)
            if found is None:
                return False
            position = found + len(run)
        # A trailing `/**` means "inside": at least one component after what came before it.
        return bool(last) or end > position


def matches_any(path: str, globs: Sequence[str]) -> bool:
    return any(compile_glob(glob).matches(path) for glob in globs)


@lru_cache(maxsize=512)
def compile_glob(glob: str) -> PathGlob:
    if "/" not in glob:
        glob = f"{ANY_FOLDERS}/{glob}"
    runs: list[tuple[re.Pattern[str], ...]] = [()]
    for segment in glob.split("/"):
        if segment == ANY_FOLDERS:
            runs.append(())
        else:
            runs[-1] = (*runs[-1], _name_pattern(segment))
    return PathGlob(tuple(runs))


def _run_matches(run: tuple[re.Pattern[str], ...], parts: Sequence[str], start: int) -> bool:
    return all(pattern.fullmatch(parts[start + i]) for i, pattern in enumerate(run))


def _first_occurrence(run: tuple[re.Pattern[str], ...], parts: Sequence[str], start: int, end: int) -> int | None:
    for position in range(start, end - len(run) + 1):
        if _run_matches(run, parts, position):
            return position
    return None


def _name_pattern(segment: str) -> re.Pattern[str]:
    """One name's pattern: `*` any run of characters, `?` one; atomic groups, so no backtracking."""
    pieces = re.sub(r"\*{2,}", "*", segment).split("*")
    if len(pieces) == 1:
        return re.compile(_literal(pieces[0]), re.S)
    middle = "".join(f"(?>.*?{_literal(piece)})" for piece in pieces[1:-1])
    return re.compile(f"{_literal(pieces[0])}{middle}.*{_literal(pieces[-1])}", re.S)


def _literal(piece: str) -> str:
    return "".join("." if char == "?" else re.escape(char) for char in piece)
