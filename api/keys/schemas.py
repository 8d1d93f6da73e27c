"""Request and response bodies of /v1/keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from api.schemas import StorableStr
from store.keys import Scope


class KeyIn(BaseModel):
    """A new key: a label, its scopes and optionally when it expires."""

    name: StorableStr = Field(default="", max_length=200)
    scopes: list[Scope] = Field(min_length=1, max_length=3)
    expires_at: AwareDatetime | None = None


class KeyOut(BaseModel):
    """A key as stored: never the key itself, only its first 12 characters."""

    id: UUID
    name: str
    prefix: str
    scopes: list[Scope]
    state: Literal["active", "revoked", "expired"]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rotated_from: UUID | None


class NewKeyOut(KeyOut):
    """A key just made: the only response that carries the key."""

    key: str


class KeyPage(BaseModel):
    """A page of keys, newest first."""

    items: list[KeyOut]
    next_cursor: str | None
