"""Turn what a user typed as SOURCE into a SourceSpec (shared by the API and the CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from domain.errors import InvalidInput
from domain.sources import SourceKind, SourceSpec, parse_source


def source_spec(
    text: str, ref: str | None = None, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> SourceSpec:
    """A SOURCE naming an existing folder is a local folder, kept as an absolute path so the
    same folder is one repository whatever the working directory."""
    folder = Path(text.strip()).expanduser()
    is_folder = bool(text.strip()) and folder.is_dir()
    spec = parse_source(text, ref=ref, include=tuple(include), exclude=tuple(exclude), looks_like_folder=is_folder)
    if spec.kind is SourceKind.LOCAL:
        if not is_folder:
            raise InvalidInput(f"folder {text!r} does not exist or is not a folder")
        return SourceSpec(SourceKind.LOCAL, str(folder.resolve()), spec.ref, None, spec.include, spec.exclude)
    return spec
