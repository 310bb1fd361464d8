"""The one typed JSON form of the domain objects that leave a process.

Job records (SQLite), Hatchet task inputs and outputs, manifests, sync statuses and API keys in Chroma,
chunks in the keyword index and the HTTP/CLI views all turn a domain dataclass into JSON and back through a pydantic
`TypeAdapter` over the dataclass itself, so the shape is declared once: by the dataclass's
fields. The domain and application layers stay free of pydantic; only adapters and
entrypoints use these.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

from application.ports.access import StoredKey
from domain.documents import Chunk, Manifest
from domain.jobs import IndexRequest, IndexResult, Progress
from domain.sync import SyncStatus

T = TypeVar("T")


class JsonForm(Generic[T]):
    """Converts one domain type to JSON-ready data or text, and validates it back."""

    def __init__(self, kind: type[T]) -> None:
        self._adapter: TypeAdapter[T] = TypeAdapter(kind)

    def to_data(self, value: T) -> Any:
        """Plain JSON data (dicts, lists, strings, numbers)."""
        return self._adapter.dump_python(value, mode="json")

    def from_data(self, data: Any) -> T:
        return self._adapter.validate_python(data)

    def dumps(self, value: T) -> str:
        return self._adapter.dump_json(value).decode()

    def loads(self, text: str | bytes) -> T:
        return self._adapter.validate_json(text)


INDEX_REQUEST = JsonForm(IndexRequest)
PROGRESS = JsonForm(Progress)
INDEX_RESULT = JsonForm(IndexResult)
MANIFEST = JsonForm(Manifest)
CHUNK = JsonForm(Chunk)
SYNC_STATUS = JsonForm(SyncStatus)
STORED_KEY = JsonForm(StoredKey)
