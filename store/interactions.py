"""Interactions: what customers do (orders, deliveries, contacts, surveys), idempotent insert."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from psycopg.types.json import Jsonb

from store.db import Conn
from store.idempotency import Inserted, outcome

INTERACTION_TYPES = (
    "order",
    "delivery",
    "support_contact",
    "app_session",
    "cancellation",
    "survey_sent",
    "survey_answered",
)


@dataclass(frozen=True)
class NewInteraction:
    """A validated interaction ready to insert."""

    source: str
    customer_ref: str
    type: str
    occurred_at: datetime
    external_id: str | None = None
    value: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


def insert_interactions(
    conn: Conn, tenant_id: UUID, items: Sequence[NewInteraction]
) -> list[Inserted]:
    """Insert in one statement; an existing (tenant, source, external_id) is kept.

    Returns one entry per input, in input order, with the existing id for duplicates
    (including duplicates inside the same batch). The customers the new rows belong to
    are marked for a profile refresh in the same transaction.
    """
    if not items:
        return []
    ids = [uuid4() for _ in items]
    rows = conn.execute(
        """
        INSERT INTO interactions (tenant_id, id, source, external_id, customer_ref, type,
                                  occurred_at, value, attributes)
        SELECT %s, * FROM unnest(
            %s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[],
            %s::real[], %s::jsonb[])
        ON CONFLICT (tenant_id, source, external_id) DO NOTHING
        RETURNING id, customer_ref
        """,
        (
            tenant_id,
            ids,
            [i.source for i in items],
            [i.external_id for i in items],
            [i.customer_ref for i in items],
            [i.type for i in items],
            [i.occurred_at for i in items],
            [i.value for i in items],
            [Jsonb(i.attributes) for i in items],
        ),
    ).fetchall()
    inserted = {r["id"] for r in rows}
    mark_dirty(conn, tenant_id, sorted({r["customer_ref"] for r in rows}))
    return outcome(
        conn, "interactions", tenant_id, ids, [(i.source, i.external_id) for i in items], inserted
    )


def mark_dirty(conn: Conn, tenant_id: UUID, refs: Sequence[str]) -> None:
    """Create or flag the customers' profiles for a refresh (sorted refs: a fixed lock order)."""
    if not refs:
        return
    conn.execute(
        """
        INSERT INTO customers (tenant_id, ref, dirty)
        SELECT %s, r, true FROM unnest(%s::text[]) AS r
        ON CONFLICT (tenant_id, ref) DO UPDATE SET dirty = true
        """,
        (tenant_id, list(refs)),
    )


def interactions_of(
    conn: Conn, tenant_id: UUID, refs: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Every interaction of these customers, oldest first, by customer."""
    rows = conn.execute(
        """
        SELECT id, customer_ref, source, external_id, type, occurred_at, value, attributes
        FROM interactions WHERE tenant_id = %s AND customer_ref = ANY(%s)
        ORDER BY customer_ref, occurred_at, id
        """,
        (tenant_id, list(refs)),
    ).fetchall()
    out: dict[str, list[dict[str, Any]]] = {r: [] for r in refs}
    for row in rows:
        out[row["customer_ref"]].append(row)
    return out
