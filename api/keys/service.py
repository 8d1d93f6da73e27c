"""Key management shared by the admin API and the CLI: the checks, then the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from api.errors import ApiError
from store import keys as keys_store
from store.db import Conn
from store.keys import KeyRecord, Scope


def check_expiry(expires_at: datetime | None) -> None:
    """An expiry must be in the future (a key born expired is a mistake, not a key)."""
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise ApiError(422, "invalid_expiry", "expires_at must be in the future.")


def create(
    conn: Conn, tenant_id: UUID, name: str, scopes: Sequence[Scope], expires_at: datetime | None
) -> tuple[str, KeyRecord]:
    """A new key for the tenant."""
    check_expiry(expires_at)
    return keys_store.create_key(conn, tenant_id, name, scopes, expires_at)


def revoke(conn: Conn, tenant_id: UUID, key_id: UUID) -> KeyRecord:
    """Revoke one of the tenant's keys, or 404."""
    record = keys_store.revoke_key(conn, tenant_id, key_id)
    if record is None:
        raise ApiError(404, "not_found", "No API key with this id.")
    return record


def rotate(conn: Conn, tenant_id: UUID, key_id: UUID) -> tuple[str, KeyRecord]:
    """Replace an active key by a new one, or 404 / 409 ``key_not_active``."""
    try:
        rotated = keys_store.rotate_key(conn, tenant_id, key_id)
    except ValueError as exc:
        raise ApiError(
            409, "key_not_active", f"Only an active key can be rotated; this one is {exc}."
        ) from exc
    if rotated is None:
        raise ApiError(404, "not_found", "No API key with this id.")
    return rotated
