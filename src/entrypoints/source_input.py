"""Turn what a user typed as SOURCE into a SourceSpec (shared by the API, the MCP tools and the CLI).

Who may name which local folder differs by caller. The CLI trusts its user: any folder,
relative to the working directory, with any `include` glob. The API and the MCP tools serve
callers that may not read the server's disk, so they pass `LocalFolders.for_remote_callers`:
a folder must resolve (symlinks followed) inside one of REPOCHAT_LOCAL_ROOTS, a relative one
is taken from the roots (never from the server's working directory), `~` is not expanded, and `include` globs may
reach files outside the default kinds only with REPOCHAT_LOCAL_ALLOW_ANY_FILES.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from domain.errors import InvalidInput, NotAllowed
from domain.file_policy import beyond_default_kinds
from domain.sources import SourceKind, SourceSpec, parse_source
from entrypoints.settings import Settings


@dataclass(frozen=True)
class LocalFolders:
    """Which local folders a SOURCE may name: any (`roots` None, trusted), or those inside `roots`."""

    roots: tuple[Path, ...] | None = None
    """Real paths (symlinks resolved); None trusts the caller, () allows no folder at all."""
    any_files: bool = True
    """Whether `include` globs may reach files outside the default kinds."""

    @classmethod
    def for_remote_callers(cls, settings: Settings) -> LocalFolders:
        return cls(settings.local_root_paths, settings.local_allow_any_files)


TRUSTED = LocalFolders()


def source_spec(
    text: str,
    ref: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    local: LocalFolders = TRUSTED,
) -> SourceSpec:
    """A local folder is kept as its real absolute path, so the same folder is one repository
    whatever the working directory. Trusted, a SOURCE naming an existing folder is a folder
    (`docs/site` too); confined, only path forms are (`/srv/docs/site`, `./site`)."""
    folder = _path(text, expand_user=local.roots is None)
    is_folder = local.roots is None and bool(text.strip()) and folder.is_dir()
    spec = parse_source(text, ref=ref, include=tuple(include), exclude=tuple(exclude), looks_like_folder=is_folder)
    if spec.kind is not SourceKind.LOCAL:
        return spec
    if local.roots is None:
        if not is_folder:
            raise _missing(text)
        resolved = folder.resolve()
    else:
        resolved = confined_folder(text.strip(), local.roots)
        _check_file_kinds(spec.include, local.any_files)
    return SourceSpec(SourceKind.LOCAL, str(resolved), spec.ref, None, spec.include, spec.exclude)


def confined_folder(text: str, roots: Sequence[Path]) -> Path:
    """The real path of the folder `text` names inside one of `roots`.

    A relative path is taken from each root in turn (the first where it exists, else the first root).
    A path outside the roots is refused alike whether it exists or not, so callers cannot probe the
    server's disk; whether one inside exists is the source's to say (`DocumentSource.check`), once
    the caller may index it.
    """
    if not roots:
        raise NotAllowed(
            "this server indexes no local folders for API or MCP callers; to allow some, set "
            f"REPOCHAT_LOCAL_ROOTS on the server to the folders it may index (separated by {os.pathsep!r})"
        )
    folder = _path(text, expand_user=False)
    candidates = [folder.resolve()] if folder.is_absolute() else [(root / folder).resolve() for root in roots]
    inside = [c for c in candidates if any(c.is_relative_to(root) for root in roots)]
    if not inside:
        raise NotAllowed(f"folder {text!r} is outside the folders this server may index (REPOCHAT_LOCAL_ROOTS)")
    return next((c for c in inside if c.is_dir()), inside[0])


def _check_file_kinds(include: Sequence[str], any_files: bool) -> None:
    wider = beyond_default_kinds(include)
    if wider and not any_files:
        raise NotAllowed(
            f"include globs {list(wider)} may match files outside the default kinds (documentation and "
            "source text) of a local folder; this server allows that only with REPOCHAT_LOCAL_ALLOW_ANY_FILES=true"
        )


def _path(text: str, expand_user: bool) -> Path:
    """`~` and `~user` are the CLI user's shorthand; for remote callers they are plain names, so that
    the server's user names cannot be probed."""
    if "\0" in text:
        raise InvalidInput("the source contains a NUL character")
    if not expand_user:
        return Path(text.strip())
    try:
        return Path(text.strip()).expanduser()
    except RuntimeError as e:  # `~someone` naming no user
        raise InvalidInput(f"cannot expand {text.strip()!r}: {e}") from e


def _missing(text: str) -> InvalidInput:
    return InvalidInput(f"folder {text!r} does not exist or is not a folder")
