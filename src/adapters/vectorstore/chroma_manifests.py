"""ChromaManifestStore: the live manifest of each indexed ref, one record of a reserved collection."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import GetResult, Where

from adapters.domain_json import MANIFEST
from adapters.vectorstore.chroma_client import call_chroma
from application.ports.stores import ManifestStore
from domain.collections import MANIFEST_COLLECTION
from domain.documents import Manifest
from domain.errors import InvalidInput
from domain.refs import normalize_ref


class ChromaManifestStore(ManifestStore):
    """Each manifest is one record of a reserved collection, so saving it is one atomic upsert.

    Keeping manifests in Chroma (not a local file) means every API replica and worker that
    shares a Chroma server sees the same live versions. A record's id is the JSON array
    `[collection, repository, ref]` (`null` for the default branch), which no two keys share
    whatever a repository id holds; its metadata repeats the three (`ref` "" for the default
    branch) and a stamp of the document, so a reader parses only manifests saved since it last looked.

    Migration: before refs side by side a record's id was `collection::repository` and its ref was
    only inside the document. The first use of a store in a process reads every record's metadata
    (nothing more when all are in the new form) and moves each record whose id is not its key's
    to that id (its ref normalized: "" or `HEAD` is the default branch), so old data is read
    without a re-index. Moving writes the new record, then deletes the old: a crash in between
    leaves a record the next run only deletes, and two processes migrating at once write the same
    record. A record already at the new id is replaced only by an old one indexed strictly later,
    so a manifest saved since by a process that migrated first is not rolled back.
    """

    def __init__(self, client: ClientAPI) -> None:
        self._client = client
        self._store: Collection | None = None
        self._opening = threading.Lock()
        self._cache: dict[str, tuple[str, Manifest]] = {}
        """record id -> (stamp, manifest) of manifests read before."""

    def _collection(self) -> Collection:
        """The reserved collection, its records migrated on first use (in Chroma's worker thread)."""
        with self._opening:
            if self._store is None:
                store = self._client.get_or_create_collection(MANIFEST_COLLECTION, embedding_function=None)
                _migrate(store)
                self._store = store
            return self._store

    async def get(self, collection: str, repository: str, ref: str | None) -> Manifest | None:
        def read() -> Manifest | None:
            found = self._read(ids=[_record_id(collection, repository, ref)])
            return found[0][1] if found else None

        return await call_chroma("read a manifest", read)

    async def save(self, collection: str, manifest: Manifest) -> None:
        await call_chroma("save a manifest", lambda: _upsert(self._collection(), collection, manifest))

    async def delete(self, collection: str, repository: str, ref: str | None) -> None:
        record = _record_id(collection, repository, ref)
        await call_chroma("delete a manifest", lambda: self._collection().delete(ids=[record]))
        self._cache.pop(record, None)

    async def entries(self, collection: str | None = None) -> list[tuple[str, Manifest]]:
        def read() -> list[tuple[str, Manifest]]:
            return sorted(self._read(where={"collection": collection} if collection else None), key=_list_key)

        return await call_chroma("list manifests", read)

    def _read(self, ids: list[str] | None = None, where: Where | None = None) -> list[tuple[str, Manifest]]:
        """(collection, manifest) of the records asked for, parsing only those whose stamp is new.

        Listing stamps reads metadata only, so a search that finds every manifest unchanged costs
        one small read however many files the repositories hold.
        """
        store = self._collection()
        listed = store.get(ids=ids, where=where, include=["metadatas"])
        current = [(i, m) for i, m in zip(listed["ids"], listed["metadatas"] or [], strict=True) if _in_place(i, m)]
        stale = [record for record, metadata in current if not self._fresh(record, metadata)]
        if stale:
            found = store.get(ids=stale, include=["documents", "metadatas"])
            for record, document, metadata in zip(
                found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True
            ):
                if document:
                    self._cache[record] = (str(metadata.get("stamp") or ""), MANIFEST.loads(document))
        pairs: list[tuple[str, Manifest]] = []
        for record, metadata in current:
            cached = self._cache.get(record)
            if cached is not None:
                pairs.append((str(metadata["collection"]), cached[1]))
        return pairs

    def _fresh(self, record: str, metadata: Mapping[str, Any]) -> bool:
        stamp = metadata.get("stamp")
        cached = self._cache.get(record)
        return bool(stamp) and cached is not None and cached[0] == stamp


def _migrate(store: Collection) -> None:
    """Move every record not at the id of its (collection, repository, ref); see the class docstring."""
    listed = store.get(include=["metadatas"])
    misplaced = [i for i, m in zip(listed["ids"], listed["metadatas"] or [], strict=True) if not _in_place(i, m)]
    if not misplaced:
        return
    moved, newest = _by_target(store.get(ids=misplaced, include=["documents", "metadatas"]))
    in_place = [target for target in newest if target not in misplaced]
    if in_place:
        already = store.get(ids=in_place, include=["documents"])
        for target, document in zip(already["ids"], already["documents"] or [], strict=True):
            if document and MANIFEST.loads(document).indexed_at >= newest[target][1].indexed_at:
                del newest[target]
    for collection, manifest in newest.values():
        _upsert(store, collection, manifest)
    left = [record for record in moved if record not in newest]
    if left:
        store.delete(ids=left)


def _by_target(found: GetResult) -> tuple[list[str], dict[str, tuple[str, Manifest]]]:
    """The ids of the records that can be moved, and (collection, manifest) of the newest for each new id.

    A record with no document or no collection in its metadata cannot be moved, and is left alone.
    """
    moved: list[str] = []
    newest: dict[str, tuple[str, Manifest]] = {}
    for record, document, metadata in zip(
        found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True
    ):
        if document and metadata and "collection" in metadata:
            collection, manifest = str(metadata["collection"]), _with_normalized_ref(MANIFEST.loads(document))
            target = _record_id(collection, manifest.repository, manifest.ref)
            if target not in newest or newest[target][1].indexed_at < manifest.indexed_at:
                newest[target] = (collection, manifest)
            moved.append(record)
    return moved, newest


def _upsert(store: Collection, collection: str, manifest: Manifest) -> None:
    document = MANIFEST.dumps(manifest)
    metadata = {
        "collection": collection,
        "repository": manifest.repository,
        "ref": manifest.ref or "",
        "stamp": _stamp(document),
    }
    store.upsert(
        ids=[_record_id(collection, manifest.repository, manifest.ref)],
        embeddings=np.ones((1, 1), dtype=np.float32),
        documents=[document],
        metadatas=[metadata],
    )


def _in_place(record: str, metadata: Mapping[str, Any] | None) -> bool:
    """Whether a record is in the current form: its metadata names its ref, and its id is that key's."""
    if not metadata or "ref" not in metadata:
        return False
    ref = str(metadata["ref"]) or None
    return record == _record_id(str(metadata["collection"]), str(metadata["repository"]), ref)


def _with_normalized_ref(manifest: Manifest) -> Manifest:
    """The manifest with its ref as `normalize_ref` gives it; a ref it refuses is kept as it was."""
    try:
        ref = normalize_ref(manifest.ref)
    except InvalidInput:
        return manifest
    return manifest if ref == manifest.ref else replace(manifest, ref=ref)


def _stamp(document: str) -> str:
    """Identifies one saved version of a manifest (records saved before stamps existed have none)."""
    return hashlib.sha256(document.encode()).hexdigest()[:16]


def _list_key(pair: tuple[str, Manifest]) -> tuple[str, str, str]:
    """Repository, collection, then ref: "" (the default branch) sorts before every named ref."""
    return pair[1].repository, pair[0], pair[1].ref or ""


def _record_id(collection: str, repository: str, ref: str | None) -> str:
    return json.dumps([collection, repository, ref])
