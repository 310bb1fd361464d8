"""RefVersions: which file versions of one repository a keyword index holds, and for which refs.

A keyword index holds each file version (cut by one chunker) once, however many refs of the
repository name it. A manifest swap of one ref adds the versions no ref held before and drops
the ones no ref names after it; a query at one ref hides the held versions its manifest does not
name. Pure bookkeeping, kept apart from the engine so it is tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.documents import Manifest

Version = tuple[str, str, str]
"""(chunker, path, blob_sha): the chunks of one file version, cut by one chunking policy."""


def versions_of(manifest: Manifest) -> frozenset[Version]:
    chunker = manifest.chunked_by
    return frozenset((chunker, path, blob_sha) for path, blob_sha in manifest.files.items())


@dataclass(frozen=True)
class Swap:
    """What one ref's new manifest changes in the index."""

    added: frozenset[Version]
    """Versions no ref held: their chunks are read from the store and written."""
    dropped: frozenset[Version]
    """Versions no ref names any more: their chunks leave the index."""

    @property
    def changes_nothing(self) -> bool:
        return not self.added and not self.dropped


@dataclass
class RefVersions:
    """The versions each synced ref of one repository names (ref None: the default branch)."""

    refs: dict[str | None, frozenset[Version]] = field(default_factory=dict)
    _hidden: dict[str | None, frozenset[Version]] = field(default_factory=dict)
    """Per ref, the held versions it does not name; forgotten whenever any ref swaps."""

    def held(self) -> frozenset[Version]:
        return frozenset().union(*self.refs.values())

    def swap_to(self, ref: str | None, versions: frozenset[Version]) -> Swap:
        """What the index must change for `ref` to name `versions` (nothing is recorded yet: see `record`)."""
        before = self.held()
        after = frozenset().union(versions, *(named for other, named in self.refs.items() if other != ref))
        return Swap(added=after - before, dropped=before - after)

    def record(self, ref: str | None, versions: frozenset[Version]) -> None:
        """`ref` names `versions` now (the index was changed as `swap_to` said)."""
        self.refs[ref] = versions
        self._hidden.clear()

    def forget(self, ref: str | None) -> None:
        """`ref` names nothing any more (the index dropped `swap_to(ref, frozenset()).dropped`)."""
        del self.refs[ref]
        self._hidden.clear()

    def hidden_from(self, ref: str | None) -> frozenset[Version]:
        """The held versions a query at `ref` (a synced one) must not see."""
        hidden = self._hidden.get(ref)
        if hidden is None:
            hidden = self._hidden[ref] = self.held() - self.refs[ref]
        return hidden
