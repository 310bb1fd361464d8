"""The JSON shapes of API keys, for `repochat keys` and the /v1/keys routes: never a key's hash, and the
key itself only in the answer that created it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from application.keys import NewKey
from application.ports.access import StoredKey
from domain.access import Role
from entrypoints.views import ListView


class KeyView(BaseModel):
    name: str
    role: Role
    collections: list[str] = Field(description="The collections the key may see; empty: every one")
    repositories: list[str] = Field(description="Globs of the repository ids the key may see; empty: every one")
    created_at: str

    @classmethod
    def of(cls, key: StoredKey) -> KeyView:
        scope = key.scope
        return cls(
            name=key.name,
            role=key.role,
            collections=list(scope.collections),
            repositories=list(scope.repositories),
            created_at=key.created_at,
        )

    def scope_text(self) -> str:
        collections = ", ".join(self.collections) or "every collection"
        repositories = ", ".join(self.repositories) or "every repository"
        return f"{collections}; {repositories}"


class KeyList(ListView[StoredKey]):
    keys: list[KeyView]


class CreatedKey(KeyView):
    key: str = Field(description="The key: shown this once, stored only as its hash")

    @classmethod
    def created(cls, new: NewKey) -> CreatedKey:
        return cls(key=new.key, **KeyView.of(new.stored).model_dump())
