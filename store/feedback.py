"""Feedback items: idempotent insert, reads with cursor paging, and the status machine.

Status moves pending -> processing -> done, or back to pending on a retryable
error, or to failed once the attempts run out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from psycopg.types.json import Jsonb

from store.db import Conn
from store.idempotency import Inserted, outcome


@dataclass(frozen=True)
class NewFeedback:
    """A validated item ready to insert."""

    source: str
    channel: str
    text: str
    external_id: str | None = None
    customer_ref: str | None = None
    rating: float | None = None
    survey_score: int | None = None
    occurred_at: datetime | None = None
    language: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClaimedItem:
    """What a worker needs to analyse one item."""

    id: UUID
    tenant_id: UUID
    channel: str
    text: str
    rating: float | None
    attempts: int


FEEDBACK_COLUMNS = """
    f.id, f.source, f.channel, f.external_id, f.text, f.language, f.customer_ref,
    f.rating, f.survey_score, f.occurred_at, f.received_at, f.status, f.attempts,
    f.last_error, f.metadata
"""


def insert_feedback(conn: Conn, tenant_id: UUID, items: Sequence[NewFeedback]) -> list[Inserted]:
    """Insert items in one statement; an existing (tenant, source, external_id) is kept.

    Returns one entry per input, in input order, with the existing id for duplicates
    (including duplicates inside the same batch).
    """
    if not items:
        return []
    # Ids are made here so each input maps to its row without relying on RETURNING order.
    ids = [uuid4() for _ in items]
    rows = conn.execute(
        """
        INSERT INTO feedback (tenant_id, id, source, channel, external_id, text, customer_ref,
                              rating, survey_score, occurred_at, language, metadata)
        SELECT %s, * FROM unnest(
            %s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::real[], %s::smallint[], %s::timestamptz[], %s::text[], %s::jsonb[])
        ON CONFLICT (tenant_id, source, external_id) DO NOTHING
        RETURNING id
        """,
        (
            tenant_id,
            ids,
            [i.source for i in items],
            [i.channel for i in items],
            [i.external_id for i in items],
            [i.text for i in items],
            [i.customer_ref for i in items],
            [i.rating for i in items],
            [i.survey_score for i in items],
            [i.occurred_at for i in items],
            [i.language for i in items],
            [Jsonb(i.metadata) for i in items],
        ),
    ).fetchall()
    inserted = {r["id"] for r in rows}
    return outcome(
        conn, "feedback", tenant_id, ids, [(i.source, i.external_id) for i in items], inserted
    )


def get_feedback(conn: Conn, tenant_id: UUID, feedback_id: UUID) -> dict[str, Any] | None:
    """One item of this tenant with its analysis (``analysis`` is None until done)."""
    row = conn.execute(
        f"""
        SELECT {FEEDBACK_COLUMNS}, to_jsonb(a) - 'embedding' - 'tenant_id' - 'feedback_id'
               AS analysis
        FROM feedback f LEFT JOIN analyses a ON a.feedback_id = f.id
        WHERE f.tenant_id = %s AND f.id = %s
        """,
        (tenant_id, feedback_id),
    ).fetchone()
    return row


@dataclass(frozen=True)
class FeedbackFilter:
    """Optional filters for listing feedback."""

    status: str | None = None
    channel: str | None = None
    language: str | None = None
    sentiment: str | None = None
    complaint: bool | None = None
    received_after: datetime | None = None
    received_before: datetime | None = None


def list_feedback(
    conn: Conn,
    tenant_id: UUID,
    filters: FeedbackFilter,
    limit: int,
    before: tuple[datetime, UUID] | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``before`` is the (received_at, id) of the last row of the previous page."""
    clauses = ["f.tenant_id = %(tenant)s"]
    params: dict[str, Any] = {"tenant": tenant_id, "limit": limit}
    for column, value in (
        ("f.status", filters.status),
        ("f.channel", filters.channel),
        ("f.language", filters.language),
        ("a.sentiment", filters.sentiment),
        ("a.complaint", filters.complaint),
    ):
        if value is not None:
            name = column.replace(".", "_")
            clauses.append(f"{column} = %({name})s")
            params[name] = value
    if filters.received_after is not None:
        clauses.append("f.received_at >= %(after)s")
        params["after"] = filters.received_after
    if filters.received_before is not None:
        clauses.append("f.received_at < %(before)s")
        params["before"] = filters.received_before
    if before is not None:
        clauses.append("(f.received_at, f.id) < (%(cursor_at)s, %(cursor_id)s)")
        params["cursor_at"], params["cursor_id"] = before
    return conn.execute(
        f"""
        SELECT {FEEDBACK_COLUMNS}, to_jsonb(a) - 'embedding' - 'tenant_id' - 'feedback_id'
               AS analysis
        FROM feedback f LEFT JOIN analyses a ON a.feedback_id = f.id
        WHERE {" AND ".join(clauses)}
        ORDER BY f.received_at DESC, f.id DESC
        LIMIT %(limit)s
        """,
        params,
    ).fetchall()


def claim_for_analysis(conn: Conn, ids: Sequence[UUID]) -> list[ClaimedItem]:
    """Mark unfinished items as processing and return them; finished ones are skipped."""
    rows = conn.execute(
        """
        UPDATE feedback SET status = 'processing', attempts = attempts + 1,
                            status_changed_at = now()
        WHERE id = ANY(%s) AND status IN ('pending', 'processing')
        RETURNING id, tenant_id, channel, text, rating, attempts
        """,
        (list(ids),),
    ).fetchall()
    return [ClaimedItem(**r) for r in rows]


def lock_unfinished(conn: Conn, ids: Sequence[UUID]) -> set[UUID]:
    """Lock the rows and return those not yet done, so a racing worker writes nothing twice."""
    rows = conn.execute(
        "SELECT id FROM feedback WHERE id = ANY(%s) AND status <> 'done' FOR UPDATE",
        (list(ids),),
    ).fetchall()
    return {r["id"] for r in rows}


def mark_done(conn: Conn, ids: Sequence[UUID], languages: Sequence[str]) -> None:
    """Record the analysis as finished and the language it found."""
    conn.execute(
        """
        UPDATE feedback f SET status = 'done', status_changed_at = now(), last_error = NULL,
                              language = COALESCE(f.language, u.language)
        FROM unnest(%s::uuid[], %s::text[]) AS u(id, language)
        WHERE f.id = u.id
        """,
        (list(ids), list(languages)),
    )


def mark_failed_attempt(conn: Conn, ids: Sequence[UUID], error: str, max_attempts: int) -> None:
    """Put items back to pending for the sweep, or fail them once attempts run out."""
    conn.execute(
        """
        UPDATE feedback SET last_error = %s, status_changed_at = now(),
               status = CASE WHEN attempts >= %s THEN 'failed' ELSE 'pending' END
        WHERE id = ANY(%s) AND status <> 'done'
        """,
        (error[:2000], max_attempts, list(ids)),
    )


def stale_unfinished(
    conn: Conn, pending_grace_s: float, processing_timeout_s: float, max_attempts: int, limit: int
) -> dict[UUID, list[UUID]]:
    """Items that a lost message or a dead worker left behind, by tenant; their clock is reset.

    Items that already used every attempt are marked failed instead of returned. Grouped by
    tenant so that a batch re-enqueued from here never mixes tenants' items.
    """
    conn.execute(
        """
        UPDATE feedback SET status = 'failed', status_changed_at = now(),
               last_error = COALESCE(last_error, 'gave up after repeated attempts')
        WHERE status = 'processing' AND attempts >= %s
          AND status_changed_at < now() - make_interval(secs => %s)
        """,
        (max_attempts, processing_timeout_s),
    )
    rows = conn.execute(
        """
        UPDATE feedback SET status_changed_at = now()
        WHERE id IN (
            SELECT id FROM feedback
            -- A pending item without queued_at waits for its tenant's share (store.dispatch).
            WHERE (status = 'pending' AND queued_at IS NOT NULL
                   AND status_changed_at < now() - make_interval(secs => %s))
               OR (status = 'processing'
                   AND status_changed_at < now() - make_interval(secs => %s))
            ORDER BY status_changed_at
            LIMIT %s
            FOR UPDATE SKIP LOCKED)
        RETURNING id, tenant_id
        """,
        (pending_grace_s, processing_timeout_s, limit),
    ).fetchall()
    by_tenant: dict[UUID, list[UUID]] = {}
    for r in rows:
        by_tenant.setdefault(r["tenant_id"], []).append(r["id"])
    return by_tenant


def status_counts(conn: Conn) -> dict[str, int]:
    """How many items are in each status, over all tenants (for metrics)."""
    rows = conn.execute("SELECT status, count(*) AS n FROM feedback GROUP BY status").fetchall()
    return {r["status"]: r["n"] for r in rows}


def oldest_unfinished_age_s(conn: Conn) -> float:
    """Seconds since the oldest pending or processing item arrived: the queue lag."""
    row = conn.execute(
        """
        SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(received_at)), 0) AS age
        FROM feedback WHERE status IN ('pending', 'processing')
        """
    ).fetchone()
    return float(row["age"]) if row else 0.0
