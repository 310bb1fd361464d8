"""ChromaSessionStore: the chat page's GitHub sessions, one record each in a reserved collection.

Kept beside the webhook deliveries and for the same reason: every API replica sharing a Chroma
server sees the same sessions, so a browser signed in on one is signed in on all, and a sign-out
on one ends the session on all. The cookie holds only the session's random id; the store holds
neither the id (a record is named by its SHA-256) nor the token in clear: the token is sealed
with AES-GCM under a key derived from the id, so what is stored opens only with a cookie.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime
from typing import Any

from chromadb.api import ClientAPI
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.vectorstore.chroma_client import RECORD_VECTOR, ReservedCollection, call_chroma
from application.ports.sessions import Session, SessionStore
from domain.collections import SESSION_COLLECTION

NONCE_BYTES = 12


class ChromaSessionStore(SessionStore):
    def __init__(self, client: ClientAPI) -> None:
        self._collection = ReservedCollection(client, SESSION_COLLECTION)

    async def open(self, session_id: str, session: Session, expires_at: datetime, now: datetime) -> None:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + AESGCM(_key(session_id)).encrypt(nonce, session.token.encode(), session.login.encode())
        metadata: dict[str, str | float] = {
            "login": session.login,
            "token": base64.b64encode(sealed).decode(),
            "expires": expires_at.timestamp(),
        }

        def write() -> None:
            collection = self._collection()
            expired: Any = {"expires": {"$lte": now.timestamp()}}
            collection.delete(where=expired)
            collection.upsert(ids=[_record_id(session_id)], embeddings=RECORD_VECTOR, metadatas=[metadata])

        await call_chroma("open a session", write)

    async def find(self, session_id: str, now: datetime) -> Session | None:
        def read() -> dict[str, Any] | None:
            found = self._collection().get(ids=[_record_id(session_id)], include=["metadatas"])
            metadatas = found["metadatas"] or []
            return dict(metadatas[0]) if metadatas and metadatas[0] else None

        record = await call_chroma("read a session", read)
        if record is None or float(record["expires"]) <= now.timestamp():
            return None
        login = str(record["login"])
        sealed = base64.b64decode(str(record["token"]))
        try:
            token = AESGCM(_key(session_id)).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], login.encode())
        except InvalidTag:
            return None
        return Session(login, token.decode())

    async def close(self, session_id: str) -> None:
        await call_chroma("close a session", lambda: self._collection().delete(ids=[_record_id(session_id)]))


def _record_id(session_id: str) -> str:
    return hashlib.sha256(b"repochat session id\0" + session_id.encode()).hexdigest()


def _key(session_id: str) -> bytes:
    """The token's key: the session id (256 random bits) hashed apart from the record's name."""
    return hashlib.sha256(b"repochat session key\0" + session_id.encode()).digest()
