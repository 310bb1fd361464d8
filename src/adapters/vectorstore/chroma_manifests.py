"""ChromaManifestStore: the live manifest of each indexed ref, one record of a reserved collection."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Where

from adapters.domain_json import MANIFEST
from adapters.vectorstore.chroma_client import RECORD_VECTOR, ReservedCollection, call_chroma
from application.ports.stores import ManifestStore
from domain.collections import MANIFEST_COLLECTION
from domain.documents import Manifest


class ChromaManifestStore(ManifestStore):
    """Each manifest is one record of a reserved collection, so saving it is one atomic upsert.

    In Chroma, not a local file, so every API replica and worker sharing a Chroma server sees the
    same live versions. A record's id is the JSON array `[collection, repository, ref]` (`null` for
    the default branch), which no two keys share whatever a repository id holds; its metadata
    repeats the three (`ref` "" for the default branch) and a stamp of the document, so a reader
    parses only manifests saved since it last looked. Records of earlier builds are brought to this
    form at start (`migrations.py`); until then a record in another form is not read.

    Each collection also has a generation record, written in the same upsert as every manifest
    saved or deleted in it, so a search (which lists the collection's manifests every time) reads
    that one record and lists the manifests again only when it changed.
    """

    def __init__(self, client: ClientAPI) -> None:
        self._collection = ReservedCollection(client, MANIFEST_COLLECTION)
        self._cache: dict[str, tuple[str, Manifest]] = {}
        """record id -> (stamp, manifest) of manifests read before."""
        self._listings: dict[str, tuple[str, list[tuple[str, Manifest]]]] = {}
        """collection -> (its generation, its manifests) as listed last."""

    async def get(self, collection: str, repository: str, ref: str | None) -> Manifest | None:
        def read() -> Manifest | None:
            found = self._read(ids=[manifest_record_id(collection, repository, ref)])
            return found[0][1] if found else None

        return await call_chroma("read a manifest", read)

    async def save(self, collection: str, manifest: Manifest) -> None:
        await call_chroma("save a manifest", lambda: write_manifest(self._collection(), collection, manifest))

    async def delete(self, collection: str, repository: str, ref: str | None) -> None:
        """Empty the record and move the generation on in one upsert (readers skip an empty record), then drop it."""
        record = manifest_record_id(collection, repository, ref)

        def remove() -> None:
            store = self._collection()
            metadata = {"collection": collection, "repository": repository, "ref": ref or "", "stamp": ""}
            _upsert_with_generation(store, collection, record, "", metadata)
            store.delete(ids=[record])

        await call_chroma("delete a manifest", remove)
        self._cache.pop(record, None)

    async def entries(self, collection: str | None = None) -> list[tuple[str, Manifest]]:
        def read() -> list[tuple[str, Manifest]]:
            if collection is None:
                return sorted(self._read(), key=_list_key)
            generation = self._generation(collection)
            listed = self._listings.get(collection)
            if generation and listed is not None and listed[0] == generation:
                return list(listed[1])
            pairs = sorted(self._read(where={"collection": collection}), key=_list_key)
            self._listings[collection] = (generation, pairs)
            return list(pairs)

        return await call_chroma("list manifests", read)

    def _generation(self, collection: str) -> str:
        """The collection's generation ("" before its first write by this build): read before its manifests,
        so a write between the two is seen at the next look."""
        found = self._collection().get(ids=[generation_record_id(collection)], include=["metadatas"])
        return str((found["metadatas"] or [{}])[0].get("generation") or "") if found["ids"] else ""

    def _read(self, ids: list[str] | None = None, where: Where | None = None) -> list[tuple[str, Manifest]]:
        """(collection, manifest) of the records asked for, parsing only those whose stamp is new.

        Listing stamps reads metadata only, so a search that finds every manifest unchanged costs
        one small read however many files the repositories hold.
        """
        store = self._collection()
        listed = store.get(ids=ids, where=where, include=["metadatas"])
        current = [
            (i, m) for i, m in zip(listed["ids"], listed["metadatas"] or [], strict=True) if in_current_form(i, m)
        ]
        stale = [record for record, metadata in current if not self._fresh(record, metadata)]
        if stale:
            found = store.get(ids=stale, include=["documents", "metadatas"])
            for record, document, metadata in zip(
                found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True
            ):
                if document:
                    self._cache[record] = (str(metadata.get("stamp") or ""), MANIFEST.loads(document))
                else:  # emptied by a delete under way
                    self._cache.pop(record, None)
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


def write_manifest(store: Collection, collection: str, manifest: Manifest) -> None:
    """Upsert the record of (collection, manifest.repository, manifest.ref) into the reserved collection."""
    document = MANIFEST.dumps(manifest)
    metadata = {
        "collection": collection,
        "repository": manifest.repository,
        "ref": manifest.ref or "",
        "stamp": _stamp(document),
    }
    record = manifest_record_id(collection, manifest.repository, manifest.ref)
    _upsert_with_generation(store, collection, record, document, metadata)


def _upsert_with_generation(
    store: Collection, collection: str, record: str, document: str, metadata: Mapping[str, str]
) -> None:
    """One upsert of a manifest record and of a new generation of its collection: readers see both or neither."""
    store.upsert(
        ids=[record, generation_record_id(collection)],
        embeddings=[RECORD_VECTOR[0], RECORD_VECTOR[0]],
        documents=[document, ""],
        metadatas=[dict(metadata), _new_generation(collection)],
    )


def move_generation(store: Collection, collection: str) -> None:
    """A new generation of `collection` alone: readers list its manifests again at their next look."""
    store.upsert(
        ids=[generation_record_id(collection)],
        embeddings=RECORD_VECTOR,
        documents=[""],
        metadatas=[_new_generation(collection)],
    )


def _new_generation(collection: str) -> dict[str, str]:
    return {"generation_of": collection, "generation": uuid.uuid4().hex}


def generation_record_id(collection: str) -> str:
    """`[collection, "generation"]`: no manifest record's id (three items) is one."""
    return json.dumps([collection, "generation"])


def is_generation_record(metadata: Mapping[str, Any] | None) -> bool:
    return bool(metadata) and "generation_of" in (metadata or {})


def in_current_form(record: str, metadata: Mapping[str, Any] | None) -> bool:
    """Whether a record is in the form this build writes: its metadata names its ref, and its id is that key's."""
    if not metadata or "ref" not in metadata:
        return False
    ref = str(metadata["ref"]) or None
    return record == manifest_record_id(str(metadata["collection"]), str(metadata["repository"]), ref)


def _stamp(document: str) -> str:
    """Identifies one saved version of a manifest."""
    return hashlib.sha256(document.encode()).hexdigest()[:16]


def _list_key(pair: tuple[str, Manifest]) -> tuple[str, str, str]:
    """Repository, collection, then ref: "" (the default branch) sorts before every named ref."""
    return pair[1].repository, pair[0], pair[1].ref or ""


def manifest_record_id(collection: str, repository: str, ref: str | None) -> str:
    return json.dumps([collection, repository, ref])
