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


# See append_events.
_APPEND = (
    """
        WITH numbers AS (
            UPDATE tenants SET event_seq = event_seq + %(n)s WHERE id = %(tenant)s
            RETURNING event_seq
        ), new_events AS (
            INSERT INTO events (tenant_id, seq, type, payload)
            SELECT %(tenant)s, numbers.event_seq - %(n)s + u.ord, u.type, u.payload
            FROM numbers,
                 unnest(%(types)s::text[], %(payloads)s::jsonb[]) WITH ORDINALITY
                     AS u(type, payload, ord)
            RETURNING id, tenant_id, seq, type, payload
        ), webhook_deliveries AS (
            INSERT INTO deliveries (tenant_id, event_id, subscription_id)
            SELECT e.tenant_id, e.id, s.id
            FROM new_events e JOIN webhook_subscriptions s
              ON s.tenant_id = e.tenant_id
             AND (e.type = ANY(s.event_types) OR '*' = ANY(s.event_types))
             -- Events without a priority are not filtered by it ('p1' < 'p2' is urgency order).
             AND (s.min_priority IS NULL OR e.payload->>'priority' IS NULL
                  OR e.payload->>'priority' <= s.min_priority)
        ), channel_deliveries AS ("""
    + notifications_store.FAN_OUT.format(events="new_events")
    + """)
        SELECT id FROM new_events ORDER BY seq
"""
)


def append_events(conn: Conn, tenant_id: UUID, events: Sequence[NewEvent]) -> list[UUID]:
    """Append events for one tenant; fan them out to matching subscriptions and channels.

    One statement, so it costs the write transaction a single round trip: it takes the
    numbers (locking the tenant row until commit), inserts the events in the order given
    and queues their webhook and channel deliveries. The deliveries join the inserted rows
    (``new_events``), which a later statement would read from the table.
    """
    if not events:
        return []
    rows = conn.execute(
        _APPEND,
        {
            "tenant": tenant_id,
            "n": len(events),
            "types": [e.type for e in events],
            "payloads": [Jsonb(e.data) for e in events],
        },
    ).fetchall()
    if not rows:
        raise LookupError(f"tenant {tenant_id} does not exist")
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
