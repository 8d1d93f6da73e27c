"""/v1/keys: list, create, read, revoke and rotate the tenant's API keys (admin scope)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request

from api.audit.service import note_audit
from api.auth import TenantDep
from api.cursor import decode_cursor, encode_cursor
from api.deps import DbDep
from api.errors import ApiError
from api.keys import service
from api.keys.schemas import KeyIn, KeyOut, KeyPage, NewKeyOut
from store import keys as keys_store

router = APIRouter(prefix="/v1/keys", tags=["keys"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found"}}


@router.get("", response_model=KeyPage)
def list_keys(
    tenant: TenantDep,
    db: DbDep,
    state: Literal["active", "revoked", "expired"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> KeyPage:
    """Your keys, newest first (never the keys themselves: their prefix)."""
    before = decode_cursor(cursor) if cursor else None
    with db.transaction() as conn:
        records = keys_store.list_keys(conn, tenant.id, limit, before, state)
    next_cursor = (
        encode_cursor(records[-1].created_at, records[-1].id) if len(records) == limit else None
    )
    return KeyPage(items=[KeyOut(**r.as_dict()) for r in records], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=NewKeyOut)
def create_key(body: KeyIn, tenant: TenantDep, db: DbDep, request: Request) -> NewKeyOut:
    """A new key with these scopes; the key is in this response only."""
    with db.transaction() as conn:
        key, record = service.create(conn, tenant.id, body.name, body.scopes, body.expires_at)
    note_audit(request, target_type="key", target_id=record.id, scopes=list(record.scopes))
    return NewKeyOut(key=key, **record.as_dict())


@router.get("/{key_id}", response_model=KeyOut, responses=_NOT_FOUND)
def get_key(key_id: UUID, tenant: TenantDep, db: DbDep) -> KeyOut:
    """One of your keys."""
    with db.transaction() as conn:
        record = keys_store.get_key(conn, tenant.id, key_id)
    if record is None:
        raise ApiError(404, "not_found", "No API key with this id.")
    return KeyOut(**record.as_dict())


@router.post("/{key_id}/revoke", response_model=KeyOut, responses=_NOT_FOUND)
def revoke_key(key_id: UUID, tenant: TenantDep, db: DbDep) -> KeyOut:
    """Revoke a key at once (idempotent); requests with it get 401 ``revoked_api_key``."""
    with db.transaction() as conn:
        record = service.revoke(conn, tenant.id, key_id)
    return KeyOut(**record.as_dict())


@router.post(
    "/{key_id}/rotate",
    status_code=201,
    response_model=NewKeyOut,
    responses={**_NOT_FOUND, 409: {"description": "The key is not active"}},
)
def rotate_key(key_id: UUID, tenant: TenantDep, db: DbDep, request: Request) -> NewKeyOut:
    """Replace an active key by a new one (same name, scopes, expiry); the old is revoked."""
    with db.transaction() as conn:
        key, record = service.rotate(conn, tenant.id, key_id)
    note_audit(request, new_key_id=str(record.id))
    return NewKeyOut(key=key, **record.as_dict())
