"""The audit log: who changed what, which target, when and from where."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from store.db import Conn


@dataclass(frozen=True)
class AuditEntry:
    """One change, as recorded."""

    tenant_id: UUID
    actor_type: str
    actor_id: str | None
    actor_name: str | None
    action: str
    target_type: str | None = None
    target_id: str | None = None
    client_ip: str | None = None
    status: int | None = None
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class AuditFilter:
    """Filters of the audit list; None means any."""

    actor_type: str | None = None
    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def record(conn: Conn, entry: AuditEntry) -> None:
    """Append one entry."""
    conn.execute(
        """
        INSERT INTO audit_log (tenant_id, actor_type, actor_id, actor_name, action,
                               target_type, target_id, client_ip, status, details)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            entry.tenant_id,
            entry.actor_type,
            entry.actor_id,
            entry.actor_name,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.client_ip,
            entry.status,
            Jsonb(entry.details or {}),
        ),
    )


_WHERE = """
    tenant_id = %(tenant)s
    AND (%(actor_type)s::text IS NULL OR actor_type = %(actor_type)s)
    AND (%(actor_id)s::text IS NULL OR actor_id = %(actor_id)s)
    AND (%(action)s::text IS NULL OR action = %(action)s)
    AND (%(target_type)s::text IS NULL OR target_type = %(target_type)s)
    AND (%(target_id)s::text IS NULL OR target_id = %(target_id)s)
    AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
    AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)
"""
_COLUMNS = """id, created_at, actor_type, actor_id, actor_name, action, target_type,
    target_id, client_ip, status, details"""


def _params(tenant_id: UUID, flt: AuditFilter) -> dict[str, Any]:
    return {"tenant": tenant_id, **flt.__dict__}


def list_entries(
    conn: Conn,
    tenant_id: UUID,
    flt: AuditFilter,
    limit: int,
    before: tuple[datetime, int] | None = None,
) -> list[dict[str, Any]]:
    """The tenant's entries, newest first, in keyset pages after ``before``."""
    return conn.execute(
        f"""
        SELECT {_COLUMNS} FROM audit_log WHERE {_WHERE}
          AND (%(before_at)s::timestamptz IS NULL
               OR (created_at, id) < (%(before_at)s, %(before_id)s::bigint))
        ORDER BY created_at DESC, id DESC LIMIT %(limit)s
        """,
        {
            **_params(tenant_id, flt),
            "before_at": before[0] if before else None,
            "before_id": before[1] if before else None,
            "limit": limit,
        },
    ).fetchall()


def iter_entries(conn: Conn, tenant_id: UUID, flt: AuditFilter) -> Iterator[dict[str, Any]]:
    """Every matching entry, oldest first, streamed with a server-side cursor (CSV export)."""
    with conn.cursor(name="audit_export") as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM audit_log WHERE {_WHERE} ORDER BY created_at, id",
            _params(tenant_id, flt),
        )
        yield from cur
