"""GitHub webhooks: the signature that authenticates a delivery, and what a push event names.

GitHub signs each delivery with the webhook's secret: `X-Hub-Signature-256: sha256=<hex>`, the
HMAC-SHA256 of the raw request body. A push event's payload names the repository
(`repository.full_name`), the ref pushed (`refs/heads/<branch>` or `refs/tags/<tag>`), the
repository's default branch, and whether the push deleted the ref.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from domain.documents import Manifest
from domain.errors import InvalidInput
from domain.sources import SourceKind, spec_of_description

SIGNATURE_PREFIX = "sha256="
DELIVERY_MEMORY = timedelta(days=1)
"""How long a delivery's id (`X-GitHub-Delivery`) is remembered: a replay within it queues nothing.
GitHub retries and redeliveries keep the id; a day covers both."""
_REF_PREFIXES = ("refs/heads/", "refs/tags/")


def signature_of(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    check = SignatureCheck(secret)
    check.update(body)
    return check.signature


class SignatureCheck:
    """GitHub's signature of a body read piece by piece, so a body need not be held whole to be checked."""

    def __init__(self, secret: str) -> None:
        self._mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def update(self, piece: bytes) -> None:
        self._mac.update(piece)

    @property
    def signature(self) -> str:
        """The `X-Hub-Signature-256` value of the body read so far."""
        return SIGNATURE_PREFIX + self._mac.hexdigest()

    def matches(self, signature: str | None) -> bool:
        """Whether `signature` (the header, None when missing) is the body's; compared in constant time."""
        if not signature:
            return False
        return hmac.compare_digest(self.signature.encode(), signature.strip().encode())


@dataclass(frozen=True)
class Push:
    """A push event: `ref` is the full ref (`refs/heads/main`), `name` its branch or tag name."""

    repository: str
    ref: str
    default_branch: str
    deleted: bool = False

    @property
    def name(self) -> str:
        for prefix in _REF_PREFIXES:
            if self.ref.startswith(prefix):
                return self.ref.removeprefix(prefix)
        return self.ref

    @property
    def to_default_branch(self) -> bool:
        return self.ref == f"refs/heads/{self.default_branch}"

    def updates(self, manifest: Manifest) -> bool:
        """Whether the push moved the ref `manifest` indexes (its ref, or the default branch for none)."""
        spec = spec_of_description(manifest.source)
        if spec.kind is not SourceKind.GITHUB or spec.location.lower() != self.repository.lower():
            return False
        if manifest.ref is None:
            return self.to_default_branch
        return manifest.ref in (self.ref, self.name)


def push_of(payload: Mapping[str, Any]) -> Push:
    """The push a push event's payload describes; InvalidInput when it lacks what a push has."""
    repository = payload.get("repository")
    ref = payload.get("ref")
    if not isinstance(repository, Mapping) or not isinstance(ref, str) or not ref:
        raise InvalidInput("a push event names its `ref` and its `repository`")
    full_name = repository.get("full_name")
    default_branch = repository.get("default_branch") or repository.get("master_branch")
    if not isinstance(full_name, str) or "/" not in full_name or not isinstance(default_branch, str):
        raise InvalidInput("a push event's repository has a `full_name` (owner/repo) and a `default_branch`")
    return Push(full_name, ref, default_branch, payload.get("deleted") is True)
