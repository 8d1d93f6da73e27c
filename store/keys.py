"""API keys with scopes and an optional expiry: create, look up, list, revoke, rotate.

Only a SHA-256 of each key is stored (``store.tenants.hash_key``); the key itself is
returned once, by ``create_key`` and ``rotate_key``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from store.db import Conn
from store.tenants import KEY_PREFIX, Tenant, hash_key

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin")
KeyState = Literal["active", "revoked", "expired"]

_COLUMNS = """
    k.id, k.tenant_id, k.name, k.prefix, k.scopes, k.created_at, k.expires_at,
    k.revoked_at, k.last_used_at, k.rotated_from,
    CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
         WHEN k.expires_at IS NOT NULL AND k.expires_at <= now() THEN 'expired'
         ELSE 'active' END AS state
"""


@dataclass(frozen=True)
class KeyRecord:
    """What is stored about a key (never the key itself)."""

    id: UUID
    tenant_id: UUID
    name: str
    prefix: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rotated_from: UUID | None
    state: KeyState

    def as_dict(self) -> dict[str, Any]:
        """The record as the API and the CLI show it."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "state": self.state,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
            "rotated_from": self.rotated_from,
        }


def _record(row: dict[str, Any]) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=tuple(row["scopes"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        rotated_from=row["rotated_from"],
        state=row["state"],
    )


def create_key(
    conn: Conn,
    tenant_id: UUID,
    name: str,
    scopes: Sequence[Scope],
    expires_at: datetime | None = None,
    rotated_from: UUID | None = None,
) -> tuple[str, KeyRecord]:
    """Create a key; return it (the only time it is seen) with its record."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        f"""
        WITH k AS (
            INSERT INTO api_keys (tenant_id, name, prefix, key_hash, scopes, expires_at,
                                  rotated_from)
            VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *)
        SELECT {_COLUMNS} FROM k
        """,
        (tenant_id, name, key[:12], hash_key(key), sorted(set(scopes)), expires_at, rotated_from),
    ).fetchone()
    assert row is not None
    return key, _record(row)


def lookup(conn: Conn, key_hash: bytes) -> tuple[Tenant, KeyRecord] | None:
    """The tenant and record of the key with this SHA-256, whatever its state; else None."""
    row = conn.execute(
        f"""
        SELECT {_COLUMNS}, t.name AS tenant_name
        FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = %s
        """,
        (key_hash,),
    ).fetchone()
    if row is None:
        return None
    return Tenant(id=row["tenant_id"], name=row["tenant_name"]), _record(row)


def tenants_with_prefix(conn: Conn, prefix: str) -> list[UUID]:
    """Tenants owning a key that starts with these (public) 12 characters."""
    rows = conn.execute(
        "SELECT DISTINCT tenant_id FROM api_keys WHERE prefix = %s", (prefix,)
    ).fetchall()
    return [r["tenant_id"] for r in rows]


def touch(conn: Conn, key_id: UUID) -> None:
    """Record that the key was used; at most once a minute, to keep reads read-only."""
    conn.execute(
        """
        UPDATE api_keys SET last_used_at = now()
        WHERE id = %s AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        """,
        (key_id,),
    )


def get_key(conn: Conn, tenant_id: UUID, key_id: UUID) -> KeyRecord | None:
    """One of the tenant's keys, or None (also for another tenant's key)."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM api_keys k WHERE k.tenant_id = %s AND k.id = %s",
        (tenant_id, key_id),
    ).fetchone()
    return None if row is None else _record(row)


def list_keys(
    conn: Conn,
    tenant_id: UUID,
    limit: int = 100,
    before: tuple[datetime, UUID] | None = None,
    state: KeyState | None = None,
) -> list[KeyRecord]:
    """The tenant's keys, newest first, in keyset pages."""
    rows = conn.execute(
        f"""
        SELECT * FROM (SELECT {_COLUMNS} FROM api_keys k WHERE k.tenant_id = %(tenant)s
            AND (%(before_at)s::timestamptz IS NULL
                 OR (k.created_at, k.id) < (%(before_at)s, %(before_id)s::uuid))) s
        WHERE %(state)s::text IS NULL OR s.state = %(state)s
        ORDER BY s.created_at DESC, s.id DESC LIMIT %(limit)s
        """,
        {
            "tenant": tenant_id,
            "before_at": before[0] if before else None,
            "before_id": before[1] if before else None,
            "state": state,
            "limit": limit,
        },
    ).fetchall()
    return [_record(r) for r in rows]


def revoke_key(conn: Conn, tenant_id: UUID, key_id: UUID) -> KeyRecord | None:
    """Revoke one of the tenant's keys (idempotent); None if it has no such key."""
    conn.execute(
        """
        UPDATE api_keys SET revoked_at = now()
        WHERE tenant_id = %s AND id = %s AND revoked_at IS NULL
        """,
        (tenant_id, key_id),
    )
    return get_key(conn, tenant_id, key_id)


def rotate_key(conn: Conn, tenant_id: UUID, key_id: UUID) -> tuple[str, KeyRecord] | None:
    """Replace an active key by a new one with the same name, scopes and expiry.

    The old key is revoked in the same transaction, so there is never a moment with
    both or neither. None if the tenant has no such key; ValueError if it is not active.
    """
    old = get_key(conn, tenant_id, key_id)
    if old is None:
        return None
    if old.state != "active":
        raise ValueError(old.state)
    revoke_key(conn, tenant_id, key_id)
    return create_key(conn, tenant_id, old.name, old.scopes, old.expires_at, rotated_from=old.id)
