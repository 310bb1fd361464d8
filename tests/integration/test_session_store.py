"""ChromaSessionStore on embedded Chroma: sessions seen by every client of the store, the token stored
sealed under the session id, expired sessions gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings

from adapters.vectorstore.chroma_sessions import ChromaSessionStore
from application.ports.sessions import Session
from domain.collections import SESSION_COLLECTION

NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TOKEN = "gho_16C7e42F292c6912E7710c838347Ae178B4a"


def client(path: Path) -> chromadb.ClientAPI:
    return chromadb.PersistentClient(str(path), settings=ChromaSettings(anonymized_telemetry=False))


async def test_a_session_is_found_by_its_id_on_another_client_until_it_expires_or_closes(tmp_path: Path) -> None:
    store = ChromaSessionStore(client(tmp_path))
    await store.open("sid-1", Session("alice", TOKEN), NOON + HOUR, NOON)
    await store.open("sid-2", Session("bob", "gho_bob"), NOON + 3 * HOUR, NOON)

    other = ChromaSessionStore(client(tmp_path))
    assert await other.find("sid-1", NOON) == Session("alice", TOKEN)
    assert await other.find("sid-1", NOON + HOUR) is None, "expired"
    assert await other.find("sid-3", NOON) is None
    await other.close("sid-2")
    assert await store.find("sid-2", NOON) is None
    await other.close("sid-2")


async def test_the_store_holds_neither_the_id_nor_the_token_in_clear(tmp_path: Path) -> None:
    chroma = client(tmp_path)
    store = ChromaSessionStore(chroma)
    await store.open("sid-secret", Session("alice", TOKEN), NOON + HOUR, NOON)

    records = chroma.get_collection(SESSION_COLLECTION).get(include=["metadatas"])
    stored = str(records)
    assert "sid-secret" not in stored and TOKEN not in stored
    assert records["metadatas"] and records["metadatas"][0]["login"] == "alice"
    assert await store.find("sid-secreT", NOON) is None, "another id opens nothing"


async def test_opening_a_session_forgets_the_expired_ones(tmp_path: Path) -> None:
    chroma = client(tmp_path)
    store = ChromaSessionStore(chroma)
    await store.open("old", Session("alice", TOKEN), NOON + HOUR, NOON)
    await store.open("new", Session("bob", "gho_bob"), NOON + 5 * HOUR, NOON + 2 * HOUR)
    assert chroma.get_collection(SESSION_COLLECTION).count() == 1
