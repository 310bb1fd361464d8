"""Which files are worth indexing: one policy for every source.

By default repochat indexes documentation and source text and skips vendored folders,
lock files, minified bundles, binaries and large files. `include` globs replace the
default list of wanted files; `exclude` globs are added to the default exclusions.
`beyond_default_kinds` tells which `include` globs may reach files the default list leaves
out (`*` matches `.env` and `id_rsa`), for deployments that allow only the default kinds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from domain.path_globs import matches_any

MAX_FILE_BYTES = 1_000_000

DOC_SUFFIXES = (".md", ".mdx", ".markdown", ".rst", ".txt", ".adoc")
CODE_SUFFIXES = (
    ".py", ".pyi", ".js", ".jsx", ".ts", ".tsx", ".mjs", ".go", ".rs", ".java", ".kt", ".scala",
    ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".rb", ".php", ".swift", ".sh", ".sql", ".proto",
    ".toml", ".yaml", ".yml", ".ini", ".cfg", ".html", ".css", ".vue", ".svelte",
)  # fmt: skip
PLAIN_NAMES = ("readme", "license", "changelog", "contributing", "makefile", "dockerfile", "notice", "authors")

DEFAULT_EXCLUDE = (
    "**/node_modules/**", "**/vendor/**", "**/third_party/**", "**/.git/**", "**/__pycache__/**",
    "**/.venv/**", "**/venv/**", "**/dist/**", "**/build/**", "**/target/**", "**/site-packages/**",
    "**/*.lock", "**/package-lock.json", "**/pnpm-lock.yaml", "**/go.sum",
    "**/*.min.js", "**/*.min.css", "**/*.map",
)  # fmt: skip


class SkipReason(StrEnum):
    FILTERED = "filtered"
    TOO_LARGE = "too_large"
    BINARY = "binary"
    UNSAFE = "unsafe"
    BAD_NAME = "bad_name"
    """A name that is not valid UTF-8: it could not be stored, cited or searched by."""


@dataclass(frozen=True)
class FilePolicy:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_bytes: int = MAX_FILE_BYTES

    def check(self, path: str, size: int) -> SkipReason | None:
        """Why `path` is skipped, or None when it should be indexed."""
        if matches_any(path, DEFAULT_EXCLUDE + self.exclude):
            return SkipReason.FILTERED
        if self.include:
            if not matches_any(path, self.include):
                return SkipReason.FILTERED
        elif not _default_wanted(path):
            return SkipReason.FILTERED
        if size > self.max_bytes:
            return SkipReason.TOO_LARGE
        return None


def beyond_default_kinds(include: Sequence[str]) -> tuple[str, ...]:
    """The globs of `include` that may match a file outside the default kinds.

    A glob stays within them when every name it matches ends with a default suffix
    (`*.md`, `docs/**/*.py`) or has a plain name as its literal stem (`Makefile`, `README.*`).
    """
    return tuple(glob for glob in include if not _within_default_kinds(glob))


def _within_default_kinds(glob: str) -> bool:
    name = glob.rsplit("/", 1)[-1].lower()
    if name.endswith(DOC_SUFFIXES + CODE_SUFFIXES):
        return True
    stem = name.split(".", 1)[0]
    return stem in PLAIN_NAMES


def decode_text(content: bytes) -> str | None:
    """The file's text, or None for binary content (a NUL byte, or not UTF-8)."""
    if b"\0" in content[:8192]:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def is_valid_name(path: str) -> bool:
    """False for a name with bytes that are not UTF-8 (Python keeps them as lone surrogates, which
    cannot be encoded again); JSON can carry such surrogates too."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_safe_relative_path(path: str) -> bool:
    """False for absolute paths and paths that climb out of the root."""
    if not path or path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        return False
    return ".." not in path.replace("\\", "/").split("/")


def _default_wanted(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(DOC_SUFFIXES + CODE_SUFFIXES):
        return True
    return name.split(".", 1)[0] in PLAIN_NAMES
