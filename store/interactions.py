"""Interactions: what customers do (orders, deliveries, contacts, surveys), idempotent insert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
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


class NewInteraction(NamedTuple):
    """A validated interaction ready to insert.

    A NamedTuple rather than a frozen dataclass: the API builds one per item of a batch,
    and it constructs in half the time. ``attributes`` is never mutated.
    """

    source: str
    customer_ref: str
    type: str
    occurred_at: datetime
    external_id: str | None = None
    value: float | None = None
    attributes: dict[str, Any] = {}  # noqa: RUF012 (one shared default, never mutated)


# Staging for a batch: binary COPY (psycopg formats the rows in C, no text-format arrays to
# build) into a temporary table, emptied at each commit, then one INSERT ... SELECT.
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS interaction_staging (
    ord integer NOT NULL, id uuid NOT NULL, source text NOT NULL, external_id text,
    customer_ref text NOT NULL, type text NOT NULL, occurred_at timestamptz NOT NULL,
    value real, attributes jsonb NOT NULL
) ON COMMIT DELETE ROWS
"""
_STAGING_COLUMNS = (
    "ord, id, source, external_id, customer_ref, type, occurred_at, value, attributes"
)
_STAGING_TYPES = ("int4", "uuid", "text", "text", "text", "text", "timestamptz", "float4", "jsonb")


def insert_interactions(
    conn: Conn, tenant_id: UUID, items: Sequence[NewInteraction]
) -> list[Inserted]:
    """Insert the batch; an existing (tenant, source, external_id) is kept.

    Returns one entry per input, in input order, with the existing id for duplicates
    (including duplicates inside the same batch: the first in input order is inserted).
    The customers the new rows belong to are marked for a profile refresh in the same
    statement.
    """
    if not items:
        return []
    ids = [uuid4() for _ in items]
    conn.execute(_STAGING)
    with (
        conn.cursor() as cur,
        cur.copy(
            f"COPY interaction_staging ({_STAGING_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(list(_STAGING_TYPES))
        for k, (new_id, i) in enumerate(zip(ids, items, strict=True)):
            copy.write_row(
                (
                    k,
                    new_id,
                    i.source,
                    i.external_id,
                    i.customer_ref,
                    i.type,
                    i.occurred_at,
                    i.value,
                    Jsonb(i.attributes),
                )
            )
    # The profiles are flagged in sorted ref order (a fixed lock order against concurrent
    # batches and refreshes). A profile already dirty is only locked, not rewritten: the
    # lock still keeps a refresh (claim_dirty skips locked rows) from clearing the flag
    # before these rows commit.
    rows = conn.execute(
        """
        WITH new AS (
            INSERT INTO interactions (tenant_id, id, source, external_id, customer_ref, type,
                                      occurred_at, value, attributes)
            SELECT %(tenant)s, id, source, external_id, customer_ref, type, occurred_at,
                   value, attributes
            FROM interaction_staging ORDER BY ord
            ON CONFLICT (tenant_id, source, external_id) DO NOTHING
            RETURNING id, customer_ref
        ), flagged AS (
            INSERT INTO customers (tenant_id, ref, dirty)
            SELECT %(tenant)s, ref, true FROM (SELECT DISTINCT customer_ref AS ref FROM new) r
            ORDER BY ref
            ON CONFLICT (tenant_id, ref) DO UPDATE SET dirty = true WHERE NOT customers.dirty
        ), emptied AS (
            -- For a second batch in the same transaction (the same snapshot as the insert).
            DELETE FROM interaction_staging
        )
        SELECT id FROM new
        """,
        {"tenant": tenant_id},
    ).fetchall()
    inserted = {r["id"] for r in rows}
    return outcome(
        conn, "interactions", tenant_id, ids, [(i.source, i.external_id) for i in items], inserted
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
