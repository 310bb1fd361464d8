"""ChromaDeliveryLog on embedded Chroma: deliveries remembered across clients of one data folder, old ones forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings

from adapters.vectorstore.chroma_deliveries import ChromaDeliveryLog

NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def client(path: Path) -> chromadb.ClientAPI:
    return chromadb.PersistentClient(str(path), settings=ChromaSettings(anonymized_telemetry=False))


async def test_a_delivery_is_remembered_until_it_is_older_than_the_cutoff(tmp_path: Path) -> None:
    log = ChromaDeliveryLog(client(tmp_path))
    assert await log.handled_at("d-1") is None
    await log.record("d-1", NOON, NOON - DAY)
    await log.record("d-2", NOON + timedelta(hours=2), NOON + timedelta(hours=2) - DAY)

    reopened = ChromaDeliveryLog(client(tmp_path))
    assert await reopened.handled_at("d-1") == NOON

    later = NOON + DAY + timedelta(hours=1)
    await reopened.record("d-3", later, later - DAY)
    assert await reopened.handled_at("d-1") is None
    assert await reopened.handled_at("d-2") == NOON + timedelta(hours=2)
    assert await reopened.handled_at("d-3") == later
