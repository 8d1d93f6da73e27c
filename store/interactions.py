"""Interactions: what customers do (orders, deliveries, contacts, surveys), idempotent insert."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from psycopg.types.json import Jsonb

from store.db import Conn

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


@dataclass(frozen=True)
class Inserted:
    """The id an interaction got, and whether it was already there."""

    id: UUID
    external_id: str | None
    duplicate: bool


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
    clashes = [item for new_id, item in zip(ids, items, strict=True) if new_id not in inserted]
    existing: dict[tuple[str, str | None], UUID] = {}
    if clashes:
        found = conn.execute(
            """
            SELECT id, source, external_id FROM interactions
            WHERE tenant_id = %s AND (source, external_id) IN
                  (SELECT * FROM unnest(%s::text[], %s::text[]))
            """,
            (tenant_id, [c.source for c in clashes], [c.external_id for c in clashes]),
        ).fetchall()
        existing = {(r["source"], r["external_id"]): r["id"] for r in found}
    return [
        Inserted(new_id, item.external_id, duplicate=False)
        if new_id in inserted
        else Inserted(existing[(item.source, item.external_id)], item.external_id, duplicate=True)
        for new_id, item in zip(ids, items, strict=True)
    ]


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
