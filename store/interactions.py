"""Interactions: what customers do (orders, deliveries, contacts, surveys), idempotent insert."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from store.db import Conn
from store.idempotency import Inserted

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
    """A validated interaction ready to insert (or to score, for the survey policy).

    A NamedTuple rather than a frozen dataclass: built per item, it constructs in half the
    time. ``attributes`` is never mutated.
    """

    source: str
    customer_ref: str
    type: str
    occurred_at: datetime
    external_id: str | None = None
    value: float | None = None
    attributes: dict[str, Any] = {}  # noqa: RUF012 (one shared default, never mutated)


# One statement per batch: Postgres reads the rows out of one JSON array (the API's
# validated batch, serialised by pydantic-core in one pass; no per-row Python on the way
# in), inserts them in input order, flags their profiles, and writes the per-input outcome
# as the JSON the API answers with (no per-row Python on the way out either).
#
# The profiles are flagged in sorted ref order (a fixed lock order against concurrent
# batches and refreshes). A profile already dirty is only locked, not rewritten: the lock
# still keeps a refresh (claim_dirty skips locked rows) from clearing the flag before these
# rows commit. A duplicate's id is the row of this batch that took its key, else the row in
# the statement's snapshot; a row committed by a concurrent batch after that snapshot is in
# neither, and its id comes back null (``complete`` false) for ``_fill_missing`` to look up.
_INSERT = """
WITH input AS MATERIALIZED (
    SELECT r.ord, gen_random_uuid() AS id, r.source, r.external_id, r.customer_ref, r.type,
           r.occurred_at, r.value::real AS value, coalesce(r.attributes, '{}') AS attributes
    FROM ROWS FROM (json_to_recordset(%(items)s::json) AS (
        source text, external_id text, customer_ref text, type text,
        occurred_at timestamptz, value double precision, attributes jsonb
    )) WITH ORDINALITY
       AS r(source, external_id, customer_ref, type, occurred_at, value, attributes, ord)
), new AS (
    INSERT INTO interactions (tenant_id, id, source, external_id, customer_ref, type,
                              occurred_at, value, attributes)
    SELECT %(tenant)s, id, source, external_id, customer_ref, type, occurred_at, value,
           attributes
    FROM input ORDER BY ord
    ON CONFLICT (tenant_id, source, external_id) DO NOTHING
    RETURNING id, source, external_id, customer_ref
), flagged AS (
    INSERT INTO customers (tenant_id, ref, dirty)
    SELECT %(tenant)s, ref, true FROM (SELECT DISTINCT customer_ref AS ref FROM new) r
    ORDER BY ref
    ON CONFLICT (tenant_id, ref) DO UPDATE SET dirty = true WHERE NOT customers.dirty
), outcome AS (
    SELECT i.ord, i.external_id, n.id IS NULL AS duplicate,
           -- COALESCE evaluates the lookups only for a duplicate.
           coalesce(
               n.id,
               (SELECT d.id FROM new d
                WHERE d.source = i.source AND d.external_id = i.external_id),
               (SELECT e.id FROM interactions e
                WHERE e.tenant_id = %(tenant)s AND e.source = i.source
                      AND e.external_id = i.external_id)
           ) AS id
    FROM input i LEFT JOIN new n ON n.id = i.id
)
SELECT '[' || string_agg(
           '{"id":' || coalesce('"' || id || '"', 'null')
           || ',"external_id":' || coalesce(to_json(external_id)::text, 'null')
           || ',"duplicate":' || duplicate::text || '}',
           ',' ORDER BY ord
       ) || ']' AS items,
       count(*) FILTER (WHERE NOT duplicate) AS accepted,
       count(*) FILTER (WHERE duplicate) AS duplicates,
       bool_and(id IS NOT NULL) AS complete
FROM outcome
"""


class BatchOutcome(NamedTuple):
    """What became of a batch: ``items`` is a JSON array with one
    ``{"id", "external_id", "duplicate"}`` per input, in input order (the API's answer as
    is), and the counts of new rows and duplicates."""

    items: str
    accepted: int
    duplicates: int

    def inserted(self) -> list[Inserted]:
        """The outcome as one ``Inserted`` per input."""
        return [
            Inserted(UUID(i["id"]), i["external_id"], i["duplicate"])
            for i in json.loads(self.items)
        ]


def insert_interactions_json(conn: Conn, tenant_id: UUID, items: str) -> BatchOutcome:
    """Insert a batch given as a JSON array; an existing (tenant, source, external_id) is kept.

    Each element has the keys of ``NewInteraction`` (``occurred_at`` an ISO 8601 string
    with its offset; a missing key is null, missing ``attributes`` an empty object), already
    validated. Duplicates, including those inside the batch (the first in input order is
    inserted), get the existing row's id. The customers the new rows belong to are marked
    for a profile refresh in the same statement.
    """
    row = conn.execute(_INSERT, {"tenant": tenant_id, "items": items}, prepare=True).fetchone()
    assert row is not None  # an aggregate without GROUP BY gives one row
    if row["items"] is None:  # an empty array
        return BatchOutcome("[]", 0, 0)
    outcome = BatchOutcome(row["items"], row["accepted"], row["duplicates"])
    if not row["complete"]:
        outcome = _fill_missing(conn, tenant_id, items, outcome)
    return outcome


def _fill_missing(conn: Conn, tenant_id: UUID, items: str, outcome: BatchOutcome) -> BatchOutcome:
    """The outcome with the ids of duplicates of rows that concurrent batches committed
    during the insert, read in a new statement (a new snapshot, which sees them)."""
    answers = json.loads(outcome.items)
    inputs = json.loads(items)
    missing = [k for k, a in enumerate(answers) if a["id"] is None]
    keys = [(inputs[k].get("source"), inputs[k].get("external_id")) for k in missing]
    found = conn.execute(
        """
        SELECT id, source, external_id FROM interactions
        WHERE tenant_id = %s AND (source, external_id) IN
              (SELECT * FROM unnest(%s::text[], %s::text[]))
        """,
        (tenant_id, [k[0] for k in keys], [k[1] for k in keys]),
    ).fetchall()
    existing = {(r["source"], r["external_id"]): str(r["id"]) for r in found}
    for k, key in zip(missing, keys, strict=True):
        answers[k]["id"] = existing[key]
    return outcome._replace(items=json.dumps(answers, separators=(",", ":"), ensure_ascii=False))


def insert_interactions(
    conn: Conn, tenant_id: UUID, items: Sequence[NewInteraction]
) -> list[Inserted]:
    """``insert_interactions_json`` for rows built in Python: one ``Inserted`` per input."""
    if not items:
        return []
    document = json.dumps(
        [
            {
                "source": i.source,
                "customer_ref": i.customer_ref,
                "type": i.type,
                "occurred_at": i.occurred_at.isoformat(),
                "external_id": i.external_id,
                "value": i.value,
                "attributes": i.attributes,
            }
            for i in items
        ],
        ensure_ascii=False,
    )
    return insert_interactions_json(conn, tenant_id, document).inserted()


INTERACTIONS_OF = """
SELECT id, customer_ref, source, external_id, type, occurred_at, value, attributes
FROM interactions WHERE tenant_id = %s AND customer_ref = ANY(%s)
ORDER BY customer_ref, occurred_at, id
"""


def by_ref(rows: Sequence[dict[str, Any]], refs: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Rows with a ``customer_ref``, grouped by it, every ref present (in their order)."""
    out: dict[str, list[dict[str, Any]]] = {r: [] for r in refs}
    for row in rows:
        out[row["customer_ref"]].append(row)
    return out


def interactions_of(
    conn: Conn, tenant_id: UUID, refs: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Every interaction of these customers, oldest first, by customer."""
    rows = conn.execute(INTERACTIONS_OF, (tenant_id, list(refs)), prepare=True).fetchall()
    return by_ref(rows, refs)
