"""Items accepted per key and UTC day, counted in Postgres so a quota holds across processes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from store.db import Conn


@dataclass(frozen=True)
class Usage:
    """Today's accepted items after an ingest, for the key and for its whole tenant."""

    key_items: int
    tenant_items: int


def add_items(conn: Conn, tenant_id: UUID, key_id: UUID, items: int) -> Usage:
    """Add accepted items to today's count (inside the ingest's transaction) and return it.

    A transaction-scoped advisory lock per tenant serialises concurrent ingests of one
    tenant, so two requests cannot both pass a quota that only one of them fits in.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s::text, 16))", (tenant_id,))
    row = conn.execute(
        """
        INSERT INTO usage_daily (tenant_id, key_id, day, items)
        VALUES (%s, %s, (now() AT TIME ZONE 'UTC')::date, %s)
        ON CONFLICT (tenant_id, day, key_id)
        DO UPDATE SET items = usage_daily.items + EXCLUDED.items
        RETURNING items
        """,
        (tenant_id, key_id, items),
    ).fetchone()
    assert row is not None
    total = conn.execute(
        """
        SELECT COALESCE(sum(items), 0) AS n FROM usage_daily
        WHERE tenant_id = %s AND day = (now() AT TIME ZONE 'UTC')::date
        """,
        (tenant_id,),
    ).fetchone()
    assert total is not None
    return Usage(key_items=int(row["items"]), tenant_items=int(total["n"]))


def add_ingested(conn: Conn, tenant_id: UUID, origin: str, by_channel: Mapping[str, int]) -> None:
    """Count stored items by channel for /metrics (inside the ingest's transaction)."""
    for channel, items in sorted(by_channel.items()):
        conn.execute(
            """
            INSERT INTO ingest_counts (tenant_id, channel, origin, items) VALUES (%s, %s, %s, %s)
            ON CONFLICT (tenant_id, channel, origin)
            DO UPDATE SET items = ingest_counts.items + EXCLUDED.items
            """,
            (tenant_id, channel, origin, items),
        )


def ingested_totals(conn: Conn) -> Counter[tuple[str, str]]:
    """Items stored so far over all tenants, by (channel, origin)."""
    rows = conn.execute(
        "SELECT channel, origin, sum(items) AS n FROM ingest_counts GROUP BY channel, origin"
    ).fetchall()
    return Counter({(r["channel"], r["origin"]): int(r["n"]) for r in rows})
