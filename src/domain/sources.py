"""Source specifications: what a user points repochat at, parsed from one string."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath

from domain.errors import InvalidInput
from domain.refs import normalize_ref

ACCEPTED_FORMS = (
    "owner/repo, github:owner/repo[@ref], https://github.com/owner/repo[/tree/ref[/subdir]], or a local folder path"
)

_NAME = r"[A-Za-z0-9_.-]+"
_SHORT = re.compile(rf"^(?P<owner>{_NAME})/(?P<repo>{_NAME})$")
_PREFIXED = re.compile(rf"^github:(?P<owner>{_NAME})/(?P<repo>{_NAME})(?:@(?P<ref>\S+))?$")
_URL = re.compile(
    rf"^https?://(?P<host>[^/\s]+)/(?P<owner>{_NAME})/(?P<repo>{_NAME}?)(?:\.git)?"
    r"(?:/tree/(?P<ref>[^/\s]+)(?:/(?P<subdir>\S+?))?)?/?$"
)


LOCAL_PREFIX = "local:"
"""How the repository id of a local folder starts."""


class SourceKind(StrEnum):
    GITHUB = "github"
    LOCAL = "local"


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source. `location` is `owner/repo` for GitHub, an absolute path for a folder."""

    kind: SourceKind
    location: str
    ref: str | None = None
    subdir: str | None = None
    include: tuple[str, ...] = field(default=())
    exclude: tuple[str, ...] = field(default=())

    @property
    def repository_id(self) -> str:
        """Stable id of the repository this spec names (one index per repository)."""
        if self.kind is SourceKind.GITHUB:
            base = self.location.lower()
            return f"{base}/{self.subdir}" if self.subdir else base
        return f"{LOCAL_PREFIX}{self.location}"

    @property
    def description(self) -> str:
        """What a manifest records as its source: `github:owner/repo[/subdir]`, or the folder's path."""
        if self.kind is SourceKind.GITHUB:
            suffix = f"/{self.subdir}" if self.subdir else ""
            return f"github:{self.location}{suffix}"
        return self.location


def github_name(repository: str) -> str | None:
    """`owner/name` of a GitHub repository id (`owner/name[/subfolder]`, `domain.sources`), lower-cased;
    None for a local folder's."""
    if repository.startswith(LOCAL_PREFIX):
        return None
    owner, _, rest = repository.lower().partition("/")
    return f"{owner}/{rest.partition('/')[0]}"


def spec_of_description(
    description: str, ref: str | None = None, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> SourceSpec:
    """The inverse of `SourceSpec.description`, for reading an indexed repository again."""
    if description.startswith("github:"):
        owner, repo, *subdir = description.removeprefix("github:").split("/", 2)
        return SourceSpec(SourceKind.GITHUB, f"{owner}/{repo}", ref, subdir[0] if subdir else None, include, exclude)
    return SourceSpec(SourceKind.LOCAL, description, ref, None, include, exclude)


def parse_source(
    text: str,
    *,
    ref: str | None = None,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    looks_like_folder: bool = False,
) -> SourceSpec:
    """Parse a user's SOURCE string.

    `looks_like_folder` is decided by the caller (which may look at the disk): a string
    such as `docs/site` is a local folder when that folder exists, else `owner/repo`.
    An explicit `ref` argument wins over one embedded in the string; refs are normalized
    (`domain.refs`: `HEAD` is the default branch) and refused for a local folder.
    """
    text = text.strip()
    if not text:
        raise InvalidInput(f"source is empty; accepted forms: {ACCEPTED_FORMS}")
    if looks_like_folder or text.startswith(("/", "./", "../", "~")) or text in (".", ".."):
        if normalize_ref(ref) is not None:
            raise InvalidInput(f"{text!r} is a local folder, indexed as it is on disk: it has no refs to pick")
        return SourceSpec(SourceKind.LOCAL, text, None, None, include, exclude)
    for pattern in (_PREFIXED, _URL, _SHORT):
        match = pattern.match(text)
        if match:
            parts = match.groupdict()
            if pattern is _URL and parts["host"].lower() not in ("github.com", "www.github.com"):
                break
            if not parts["owner"].strip(".") or not parts["repo"].strip("."):
                break  # `.` and `..` are path steps, not GitHub names (`a/..` would climb the API path)
            subdir = parts.get("subdir")
            if subdir and ".." in PurePosixPath(subdir).parts:
                break
            return SourceSpec(
                SourceKind.GITHUB,
                f"{parts['owner']}/{parts['repo']}",
                normalize_ref(ref or parts.get("ref")),
                subdir.strip("/") if subdir else None,
                include,
                exclude,
            )
    raise InvalidInput(f"cannot understand source {text!r}; accepted forms: {ACCEPTED_FORMS}")
