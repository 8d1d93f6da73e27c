"""Complaints, their history, and each tenant's flagging policy document."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from store.db import Conn

COMPLAINT_COLUMNS = """
    c.id, c.feedback_id, c.status, c.priority, c.priority_score, c.reasons, c.category,
    c.channel, c.language, c.severity, c.churn_risk, c.complaint_score, c.customer_value,
    c.assignee, c.flagged_at, c.sla_due_at, c.first_response_at, c.resolved_at,
    c.resolution_code, c.reopen_count, c.updated_at, c.kind, c.suggested_action
"""


def get_policies(conn: Conn, tenant_ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    """Stored policy documents of these tenants (tenants without one are absent)."""
    rows = conn.execute(
        "SELECT tenant_id, policy FROM tenant_policies WHERE tenant_id = ANY(%s)",
        (list(tenant_ids),),
    ).fetchall()
    return {r["tenant_id"]: r["policy"] for r in rows}


def put_policy(conn: Conn, tenant_id: UUID, policy: dict[str, Any]) -> None:
    """Replace the tenant's policy document."""
    conn.execute(
        """
        INSERT INTO tenant_policies (tenant_id, policy) VALUES (%s, %s)
        ON CONFLICT (tenant_id) DO UPDATE SET policy = EXCLUDED.policy, updated_at = now()
        """,
        (tenant_id, Jsonb(policy)),
    )


def feedback_facts(conn: Conn, ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    """The fields of each item the policy reads beyond the analysis."""
    rows = conn.execute(
        "SELECT id, rating, survey_score, metadata FROM feedback WHERE id = ANY(%s)",
        (list(ids),),
    ).fetchall()
    return {r["id"]: r for r in rows}


@dataclass(frozen=True)
class NewComplaint:
    """A complaint the policy flagged."""

    tenant_id: UUID
    feedback_id: UUID
    priority: str
    priority_score: float
    reasons: Sequence[str]
    category: str | None
    channel: str
    language: str | None
    severity: str
    churn_risk: bool
    complaint_score: float
    customer_value: float | None
    flagged_at: datetime
    sla_due_at: datetime


def insert_complaints(conn: Conn, rows: Sequence[NewComplaint]) -> dict[UUID, UUID]:
    """Insert complaints; an item already flagged is skipped. Returns feedback id -> new id."""
    if not rows:
        return {}
    inserted = conn.execute(
        """
        INSERT INTO complaints (tenant_id, feedback_id, priority, priority_score, reasons,
            category, channel, language, severity, churn_risk, complaint_score, customer_value,
            flagged_at, sla_due_at, updated_at)
        SELECT u.tenant_id, u.feedback_id, u.priority, u.priority_score,
               -- reasons travel as one JSON array per row: unnest cannot carry ragged text[][].
               ARRAY(SELECT jsonb_array_elements_text(u.reasons)), u.category, u.channel,
               u.language, u.severity, u.churn_risk, u.complaint_score, u.customer_value,
               u.flagged_at, u.sla_due_at, u.flagged_at
        FROM unnest(
            %s::uuid[], %s::uuid[], %s::text[], %s::real[], %s::jsonb[], %s::text[], %s::text[],
            %s::text[], %s::text[], %s::boolean[], %s::real[], %s::real[], %s::timestamptz[],
            %s::timestamptz[]
        ) AS u(tenant_id, feedback_id, priority, priority_score, reasons, category, channel,
               language, severity, churn_risk, complaint_score, customer_value, flagged_at,
               sla_due_at)
        ON CONFLICT (feedback_id) DO NOTHING
        RETURNING id, feedback_id, tenant_id
        """,
        (
            [r.tenant_id for r in rows],
            [r.feedback_id for r in rows],
            [r.priority for r in rows],
            [r.priority_score for r in rows],
            [Jsonb(list(r.reasons)) for r in rows],
            [r.category for r in rows],
            [r.channel for r in rows],
            [r.language for r in rows],
            [r.severity for r in rows],
            [r.churn_risk for r in rows],
            [r.complaint_score for r in rows],
            [r.customer_value for r in rows],
            [r.flagged_at for r in rows],
            [r.sla_due_at for r in rows],
        ),
    ).fetchall()
    if inserted:
        conn.execute(
            """
            INSERT INTO complaint_history (complaint_id, tenant_id, action, actor, data)
            SELECT c.id, c.tenant_id, 'flagged', 'policy',
                   jsonb_build_object('priority', c.priority, 'reasons', to_jsonb(c.reasons))
            FROM complaints c WHERE c.id = ANY(%s)
            """,
            ([r["id"] for r in inserted],),
        )
    return {r["feedback_id"]: r["id"] for r in inserted}


@dataclass(frozen=True)
class ComplaintFilter:
    """Filters of the inbox list; None means any."""

    status: Sequence[str] | None = None
    priority: Sequence[str] | None = None
    category: str | None = None
    channel: str | None = None
    language: str | None = None
    assignee: str | None = None
    overdue: bool | None = None
    flagged_after: datetime | None = None
    flagged_before: datetime | None = None


def list_complaints(
    conn: Conn,
    tenant_id: UUID,
    filters: ComplaintFilter,
    limit: int,
    before: tuple[datetime, UUID] | None = None,
) -> list[dict[str, Any]]:
    """Newest flagged first; ``before`` is the (flagged_at, id) that ended the previous page."""
    clauses = ["c.tenant_id = %(tenant)s"]
    params: dict[str, Any] = {"tenant": tenant_id, "limit": limit}
    if filters.status:
        clauses.append("c.status = ANY(%(status)s)")
        params["status"] = list(filters.status)
    if filters.priority:
        clauses.append("c.priority = ANY(%(priority)s)")
        params["priority"] = list(filters.priority)
    for column in ("category", "channel", "language", "assignee"):
        value = getattr(filters, column)
        if value is not None:
            clauses.append(f"c.{column} = %({column})s")
            params[column] = value
    if filters.overdue is not None:
        overdue = "(c.status <> 'resolved' AND c.sla_due_at < now())"
        clauses.append(overdue if filters.overdue else f"NOT {overdue}")
    if filters.flagged_after is not None:
        clauses.append("c.flagged_at >= %(after)s")
        params["after"] = filters.flagged_after
    if filters.flagged_before is not None:
        clauses.append("c.flagged_at < %(before)s")
        params["before"] = filters.flagged_before
    if before is not None:
        clauses.append("(c.flagged_at, c.id) < (%(cursor_at)s, %(cursor_id)s)")
        params["cursor_at"], params["cursor_id"] = before
    return conn.execute(
        f"""
        SELECT {COMPLAINT_COLUMNS}, left(COALESCE(f.text, c.suggested_action), 300) AS excerpt
        FROM complaints c LEFT JOIN feedback f ON f.id = c.feedback_id
        WHERE {" AND ".join(clauses)}
        ORDER BY c.flagged_at DESC, c.id DESC
        LIMIT %(limit)s
        """,
        params,
    ).fetchall()


def get_complaint(
    conn: Conn, tenant_id: UUID, complaint_id: UUID, for_update: bool = False
) -> dict[str, Any] | None:
    """One complaint of the tenant; ``for_update`` locks it for a state change."""
    lock = "FOR UPDATE OF c" if for_update else ""
    return conn.execute(
        f"""
        SELECT {COMPLAINT_COLUMNS},
               -- A recovery case is about a customer, not an item: it has no feedback.
               COALESCE(f.text, c.suggested_action, '') AS text,
               COALESCE(f.source, 'customers') AS source, f.external_id,
               COALESCE(f.customer_ref, c.customer_ref) AS customer_ref, f.rating,
               f.survey_score, COALESCE(f.metadata, '{{}}'::jsonb) AS metadata,
               COALESCE(f.received_at, c.flagged_at) AS received_at,
               to_jsonb(a) - 'embedding' - 'tenant_id' - 'feedback_id' AS analysis
        FROM complaints c LEFT JOIN feedback f ON f.id = c.feedback_id
             LEFT JOIN analyses a ON a.feedback_id = c.feedback_id
        WHERE c.tenant_id = %s AND c.id = %s
        {lock}
        """,
        (tenant_id, complaint_id),
    ).fetchone()


def history(conn: Conn, complaint_id: UUID) -> list[dict[str, Any]]:
    """Every change to a complaint, oldest first."""
    return conn.execute(
        """
        SELECT id, action, actor, note, data, created_at FROM complaint_history
        WHERE complaint_id = %s ORDER BY id
        """,
        (complaint_id,),
    ).fetchall()


# The columns an action may set; the names are code, never user input.
_SETTABLE = {
    "status",
    "assignee",
    "first_response_at",
    "resolved_at",
    "resolution_code",
    "reopen_count",
    "sla_due_at",
}


def apply_change(
    conn: Conn,
    tenant_id: UUID,
    complaint_id: UUID,
    action: str,
    changes: dict[str, Any],
    actor: str | None,
    note: str | None,
    data: dict[str, Any],
) -> None:
    """Set columns on a locked complaint and record the action in its history."""
    unknown = set(changes) - _SETTABLE
    if unknown:
        raise ValueError(f"not settable: {sorted(unknown)}")
    sets = ", ".join([*(f"{k} = %({k})s" for k in changes), "updated_at = now()"])
    conn.execute(
        f"UPDATE complaints SET {sets} WHERE id = %(id)s AND tenant_id = %(tenant)s",
        {**changes, "id": complaint_id, "tenant": tenant_id},
    )
    conn.execute(
        """
        INSERT INTO complaint_history (complaint_id, tenant_id, action, actor, note, data)
        VALUES (%s, %s, %s, %s, %s, %s)
        """,
        (complaint_id, tenant_id, action, actor, note, Jsonb(data)),
    )


def metrics(
    conn: Conn, tenant_id: UUID, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """Inbox figures over complaints flagged in [since, until)."""
    params = {"tenant": tenant_id, "since": since, "until": until}
    window = """
        c.tenant_id = %(tenant)s
        AND (%(since)s::timestamptz IS NULL OR c.flagged_at >= %(since)s::timestamptz)
        AND (%(until)s::timestamptz IS NULL OR c.flagged_at < %(until)s::timestamptz)
    """
    totals = conn.execute(
        f"""
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'open') AS open,
               count(*) FILTER (WHERE status = 'acknowledged') AS acknowledged,
               count(*) FILTER (WHERE status = 'resolved') AS resolved,
               count(*) FILTER (WHERE (resolved_at IS NOT NULL AND resolved_at > sla_due_at)
                                   OR (resolved_at IS NULL AND now() > sla_due_at))
                   AS sla_breached,
               count(*) FILTER (WHERE reopen_count > 0) AS reopened,
               count(*) FILTER (WHERE resolved_at IS NOT NULL OR reopen_count > 0)
                   AS ever_resolved,
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY EXTRACT(EPOCH FROM first_response_at - flagged_at))
                   AS first_response_p50_s,
               percentile_cont(0.9) WITHIN GROUP (
                   ORDER BY EXTRACT(EPOCH FROM first_response_at - flagged_at))
                   AS first_response_p90_s,
               avg(EXTRACT(EPOCH FROM first_response_at - flagged_at)) AS first_response_mean_s,
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY EXTRACT(EPOCH FROM resolved_at - flagged_at)) AS resolution_p50_s,
               percentile_cont(0.9) WITHIN GROUP (
                   ORDER BY EXTRACT(EPOCH FROM resolved_at - flagged_at)) AS resolution_p90_s,
               avg(EXTRACT(EPOCH FROM resolved_at - flagged_at)) AS resolution_mean_s
        FROM complaints c WHERE {window}
        """,
        params,
    ).fetchone()
    assert totals is not None
    by_category = conn.execute(
        f"""
        SELECT COALESCE(category, 'other') AS category, count(*) AS n FROM complaints c
        WHERE {window} GROUP BY 1 ORDER BY 2 DESC, 1
        """,
        params,
    ).fetchall()
    by_priority = conn.execute(
        f"SELECT priority, count(*) AS n FROM complaints c WHERE {window} GROUP BY 1 ORDER BY 1",
        params,
    ).fetchall()
    return {
        **totals,
        "by_category": {r["category"]: r["n"] for r in by_category},
        "by_priority": {r["priority"]: r["n"] for r in by_priority},
    }
