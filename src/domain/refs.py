"""Refs side by side: a repository is indexed at several refs of one collection, each with its own manifest.

A ref is a branch, a tag or a commit SHA, as the user named it; `None` is the repository's default
branch (what an index without `--ref` follows), and `HEAD` is another name for it. Where a ref is
not asked for, a repository is searched at its default branch, or else at the ref indexed last.

Chunk ids do not name the ref (`domain.documents.chunk_id`), so refs that share a file version share
its chunks: deleting a chunk is right only once no manifest of its repository names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from domain.documents import Manifest
from domain.errors import InvalidInput, NotFound

DEFAULT_BRANCH_ALIAS = "HEAD"
MIN_SHA_PREFIX = 7
"""A ref of at least this many hex digits also matches the manifest whose commit it begins."""
_FORBIDDEN = re.compile(r"^-|[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[/.]|[/.]$|\.lock$|^@$")
"""What `git check-ref-format` refuses in a ref name (control characters and spaces, `~^:?*[\\`,
`..`, `@{`, empty path parts, a leading or trailing `/` or `.`, a `.lock` end, `@` alone)."""
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def normalize_ref(ref: str | None) -> str | None:
    """The ref as manifests record it: trimmed, and None for the default branch (no ref, "" or `HEAD`).

    InvalidInput for a name git could not have given a branch or tag, so every ref is safe in a
    key and a URL, and a typo such as a space is caught before anything is queued.
    """
    if ref is None:
        return None
    ref = ref.strip()
    if not ref or ref == DEFAULT_BRANCH_ALIAS:
        return None
    if _FORBIDDEN.search(ref):
        raise InvalidInput(f"{ref!r} is not a branch, tag or commit SHA git would accept")
    return ref


def ref_label(ref: str | None) -> str:
    """How messages and listings name a ref."""
    return ref if ref is not None else "the default branch"


def not_indexed_at(subject: str, ref: str | None, indexed: Iterable[Manifest]) -> NotFound:
    """The error for a pinned ref `subject` (a repository, a collection) is not indexed at, naming the refs it is."""
    refs = sorted({ref_label(manifest.ref) for manifest in indexed})
    return NotFound(f"{subject} is not indexed at {ref_label(ref)}; indexed: {', '.join(refs)}")


def matches_ref(manifest: Manifest, ref: str | None) -> bool:
    """Whether `manifest` is the one indexed at `ref` (normalized): by its ref, or by the commit a SHA begins."""
    if manifest.ref == ref:
        return True
    return (
        ref is not None
        and len(ref) >= MIN_SHA_PREFIX
        and _HEX.match(ref) is not None
        and manifest.commit.lower().startswith(ref.lower())
    )


def default_manifest(manifests: Iterable[Manifest]) -> Manifest | None:
    """Which of one repository's manifests is searched when no ref is asked for: its default
    branch's, else the one indexed last."""
    candidates = list(manifests)
    for manifest in candidates:
        if manifest.ref is None:
            return manifest
    return max(candidates, key=lambda m: m.indexed_at, default=None)


@dataclass(frozen=True)
class RefChoice:
    """Which ref of each repository to search: `ref` (normalized), or the default choice when not `pinned`."""

    ref: str | None = None
    pinned: bool = False

    @classmethod
    def of(cls, ref: str | None) -> RefChoice:
        """No ref (None): the default choice. A ref, `HEAD` included, pins the search to it."""
        return cls() if ref is None else cls(normalize_ref(ref), True)

    def pick(self, manifests: Iterable[Manifest]) -> Manifest | None:
        """The manifest of one repository's `manifests` this choice searches; None when it names none of them."""
        candidates = list(manifests)
        if not self.pinned:
            return default_manifest(candidates)
        exact = [m for m in candidates if m.ref == self.ref]
        if exact:
            return exact[0]
        by_commit = [m for m in candidates if matches_ref(m, self.ref)]
        return max(by_commit, key=lambda m: m.indexed_at, default=None)


def live_manifests(
    entries: Iterable[Manifest], choice: RefChoice, repository: str | None = None
) -> dict[str, Manifest]:
    """The manifest to search of each repository (of `repository` only, when given), by repository id.

    Repositories with no manifest at a pinned ref are left out.
    """
    by_repository: dict[str, list[Manifest]] = {}
    for manifest in entries:
        if repository is None or manifest.repository == repository:
            by_repository.setdefault(manifest.repository, []).append(manifest)
    picked = {name: choice.pick(found) for name, found in by_repository.items()}
    return {name: manifest for name, manifest in picked.items() if manifest is not None}


def names_anywhere(manifests: Iterable[Manifest]) -> frozenset[str]:
    """The ids of every chunk at least one of `manifests` names: what a sweep of their repository keeps."""
    named: set[str] = set()
    for manifest in manifests:
        named |= manifest.chunk_ids()
    return frozenset(named)
