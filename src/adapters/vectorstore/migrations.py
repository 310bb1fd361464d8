"""Data in Chroma written by earlier builds, brought to the current form before anything reads it.

`migrate_chroma` runs once per process, when the container opens the Chroma client
(`entrypoints/resources.py`), so the adapters read and write only the current form. Each step
is idempotent: a run with nothing left to do reads one page of metadata and writes nothing.
docs/migrations.md says what each step moves and why it is safe while other processes run.
"""

from __future__ import annotations

from dataclasses import replace

from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import GetResult

from adapters.domain_json import MANIFEST
from adapters.vectorstore.chroma_manifests import (
    in_current_form,
    is_generation_record,
    manifest_record_id,
    move_generation,
    write_manifest,
)
from domain.collections import MANIFEST_COLLECTION
from domain.documents import Manifest
from domain.errors import InvalidInput, UpstreamUnavailable
from domain.refs import normalize_ref


def migrate_chroma(client: ClientAPI) -> None:
    """Every step, in the order the builds that needed them appeared; blocking, as Chroma's client is.

    Raises UpstreamUnavailable when Chroma fails, so a process that cannot migrate says why at start.
    """
    try:
        manifests = client.get_or_create_collection(MANIFEST_COLLECTION, embedding_function=None)
        move_manifests_to_one_record_per_ref(manifests)
        give_each_collection_a_generation(manifests)
    except Exception as e:
        raise UpstreamUnavailable(
            f"Chroma failed to migrate the data of earlier builds: {type(e).__name__}: {e}"
        ) from e


def move_manifests_to_one_record_per_ref(store: Collection) -> None:
    """Before refs side by side a manifest's id was `collection::repository`, its ref only inside the document.

    Each such record moves to the id of its (collection, repository, ref), its ref normalized ("" or
    `HEAD` is the default branch), unless a record already there was indexed at the same time or later.
    """
    listed = store.get(include=["metadatas"])
    misplaced = [
        i
        for i, m in zip(listed["ids"], listed["metadatas"] or [], strict=True)
        if not in_current_form(i, m) and not is_generation_record(m)
    ]
    if not misplaced:
        return
    moved, newest = _newest_by_target(store.get(ids=misplaced, include=["documents", "metadatas"]))
    in_place = [target for target in newest if target not in misplaced]
    if in_place:
        already = store.get(ids=in_place, include=["documents"])
        for target, document in zip(already["ids"], already["documents"] or [], strict=True):
            if document and MANIFEST.loads(document).indexed_at >= newest[target][1].indexed_at:
                del newest[target]
    for collection, manifest in newest.values():
        write_manifest(store, collection, manifest)
    left = [record for record in moved if record not in newest]
    if left:
        store.delete(ids=left)


def give_each_collection_a_generation(store: Collection) -> None:
    """Before generation records, a collection's manifests were listed on every search: each collection with
    manifests gets its generation record, so readers of this build can keep its listing until it changes."""
    listed = store.get(include=["metadatas"])
    metadatas = [m for m in listed["metadatas"] or [] if m]
    having = {str(m["generation_of"]) for m in metadatas if is_generation_record(m)}
    for collection in sorted({str(m["collection"]) for m in metadatas if "collection" in m} - having):
        move_generation(store, collection)


def _newest_by_target(found: GetResult) -> tuple[list[str], dict[str, tuple[str, Manifest]]]:
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
            target = manifest_record_id(collection, manifest.repository, manifest.ref)
            if target not in newest or newest[target][1].indexed_at < manifest.indexed_at:
                newest[target] = (collection, manifest)
            moved.append(record)
    return moved, newest


def _with_normalized_ref(manifest: Manifest) -> Manifest:
    """The manifest with its ref as `normalize_ref` gives it; a ref it refuses is kept as it was."""
    try:
        ref = normalize_ref(manifest.ref)
    except InvalidInput:
        return manifest
    return manifest if ref == manifest.ref else replace(manifest, ref=ref)
