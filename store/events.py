"""The outbox: events written in the same transaction as the change they announce.

Each tenant's events carry a gapless sequence number. Taking numbers locks the
tenant row until commit, so events become visible in sequence order and a feed
reader paging with ``after=<seq>`` never skips one that commits late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from store import notifications as notifications_store
from store.db import Conn


@dataclass(frozen=True)
class NewEvent:
    """An event to append: its type and JSON payload."""

    type: str
    data: dict[str, Any]


def append_events(conn: Conn, tenant_id: UUID, events: Sequence[NewEvent]) -> list[UUID]:
    """Append events for one tenant; fan them out to matching subscriptions and channels."""
    if not events:
        return []
    row = conn.execute(
        "UPDATE tenants SET event_seq = event_seq + %s WHERE id = %s RETURNING event_seq",
        (len(events), tenant_id),
    ).fetchone()
    if row is None:
        raise LookupError(f"tenant {tenant_id} does not exist")
    first = row["event_seq"] - len(events) + 1
    rows = conn.execute(
        """
        INSERT INTO events (tenant_id, seq, type, payload)
        SELECT %s, * FROM unnest(%s::bigint[], %s::text[], %s::jsonb[])
        RETURNING id, type
        """,
        (
            tenant_id,
            list(range(first, first + len(events))),
            [e.type for e in events],
            [Jsonb(e.data) for e in events],
        ),
    ).fetchall()
    conn.execute(
        """
        INSERT INTO deliveries (tenant_id, event_id, subscription_id)
        SELECT %s, e.id, s.id
        FROM events e JOIN webhook_subscriptions s
          ON s.tenant_id = e.tenant_id AND (e.type = ANY(s.event_types) OR '*' = ANY(s.event_types))
         -- Events without a priority are not filtered by it ('p1' < 'p2' is urgency order).
         AND (s.min_priority IS NULL OR e.payload->>'priority' IS NULL
              OR e.payload->>'priority' <= s.min_priority)
        WHERE e.id = ANY(%s)
        """,
        (tenant_id, [r["id"] for r in rows]),
    )
    notifications_store.fan_out(conn, tenant_id, [r["id"] for r in rows])
    return [r["id"] for r in rows]


def list_events(
    conn: Conn, tenant_id: UUID, after: int, limit: int, types: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Events with ``seq > after``, oldest first."""
    return conn.execute(
        """
        SELECT id, seq, type, payload AS data, created_at FROM events
        WHERE tenant_id = %s AND seq > %s AND (%s::text[] IS NULL OR type = ANY(%s::text[]))
        ORDER BY seq LIMIT %s
        """,
        (tenant_id, after, types, types, limit),
    ).fetchall()
