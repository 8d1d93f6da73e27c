"""Tenants and their API keys (only a hash of each key is stored)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID

from store.db import Conn

KEY_PREFIX = "lng_"


@dataclass(frozen=True)
class Tenant:
    """A customer of the service; every row of data belongs to exactly one."""

    id: UUID
    name: str


def hash_key(key: str) -> bytes:
    """SHA-256 of a key. Keys are 32 random bytes, so a fast hash is enough."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def create_tenant(conn: Conn, name: str) -> Tenant:
    """Insert a tenant; raises psycopg.errors.UniqueViolation if the name is taken."""
    row = conn.execute(
        "INSERT INTO tenants (name) VALUES (%s) RETURNING id, name", (name,)
    ).fetchone()
    assert row is not None
    return Tenant(id=row["id"], name=row["name"])


def get_tenant_by_name(conn: Conn, name: str) -> Tenant | None:
    """The tenant with this name, if any."""
    row = conn.execute("SELECT id, name FROM tenants WHERE name = %s", (name,)).fetchone()
    return None if row is None else Tenant(id=row["id"], name=row["name"])


def list_tenants(conn: Conn) -> list[Tenant]:
    """Every tenant, oldest first."""
    rows = conn.execute("SELECT id, name FROM tenants ORDER BY created_at, name").fetchall()
    return [Tenant(id=r["id"], name=r["name"]) for r in rows]


def create_api_key(conn: Conn, tenant_id: UUID, name: str = "") -> str:
    """Create a key for the tenant and return it; this is the only time it is seen."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_keys (tenant_id, name, prefix, key_hash) VALUES (%s, %s, %s, %s)",
        (tenant_id, name, key[:12], hash_key(key)),
    )
    return key


def tenant_for_key(conn: Conn, key: str) -> Tenant | None:
    """The tenant that owns an unrevoked, unexpired key, or None."""
    row = conn.execute(
        """
        SELECT t.id, t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
        WHERE k.key_hash = %s AND k.revoked_at IS NULL
          AND (k.expires_at IS NULL OR k.expires_at > now())
        """,
        (hash_key(key),),
    ).fetchone()
    return None if row is None else Tenant(id=row["id"], name=row["name"])


def tenant_for_key_hash(conn: Conn, key_hash: bytes) -> Tenant | None:
    """The tenant that owns an unrevoked, unexpired key with this SHA-256 (dashboard sessions)."""
    row = conn.execute(
        """
        SELECT t.id, t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
        WHERE k.key_hash = %s AND k.revoked_at IS NULL
          AND (k.expires_at IS NULL OR k.expires_at > now())
        """,
        (key_hash,),
    ).fetchone()
    return None if row is None else Tenant(id=row["id"], name=row["name"])
