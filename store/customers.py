"""Customer profiles: aggregates recomputed from the rows, scores, lists, timelines, reconciliation.

A profile's aggregate columns are always the result of ``_AGGREGATE`` over the customer's
feedback with an analysis, complaints and interactions: ``refresh_profiles`` writes it, and
``reconcile`` evaluates it again over a whole tenant and reports every profile that differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from store import interactions as interactions_store
from store.db import Conn

# The aggregate columns, in the order ``_AGGREGATE`` returns them after ``ref``.
AGGREGATE_COLUMNS = (
    "first_contact_at",
    "last_contact_at",
    "last_feedback_at",
    "feedback_count",
    "negative_count",
    "channels",
    "csat_inferred",
    "csat_inferred_sd",
    "csat_real",
    "nps_real",
    "interaction_count",
    "order_count",
    "revenue",
    "complaint_count",
    "cancelled_at",
)

# Per customer of %(tenant)s (the %(refs)s customers, or all: see _aggregate). The rolling
# inferred CSAT is over the last 10 analysed items; real answers are the latest NPS
# (survey_score or a survey_answered nps) and the latest CSAT (stars, metadata.csat or a
# survey_answered csat).
_AGGREGATE = """
WITH fb AS (
    SELECT f.id, f.customer_ref AS ref, COALESCE(f.occurred_at, f.received_at) AS at, f.channel,
           a.sentiment, a.csat_expected, f.survey_score,
           COALESCE(f.rating, CASE WHEN jsonb_typeof(f.metadata->'csat') = 'number'
                                    AND (f.metadata->>'csat')::real BETWEEN 1 AND 5
                                   THEN (f.metadata->>'csat')::real END) AS csat,
           row_number() OVER (PARTITION BY f.customer_ref
                              ORDER BY COALESCE(f.occurred_at, f.received_at) DESC, f.id DESC)
               AS recent
    FROM feedback f JOIN analyses a ON a.feedback_id = f.id
    WHERE f.tenant_id = %(tenant)s AND f.customer_ref IS NOT NULL
      {feedback_scope}
), ia AS (
    SELECT i.customer_ref AS ref, i.occurred_at AS at, i.type, i.value,
           CASE WHEN i.type = 'survey_answered' THEN (i.attributes->>'nps')::smallint END AS nps,
           CASE WHEN i.type = 'survey_answered' THEN (i.attributes->>'csat')::real END AS csat
    FROM interactions i
    WHERE i.tenant_id = %(tenant)s
      {interaction_scope}
), answers AS (
    SELECT ref, at, survey_score AS nps, csat FROM fb
    UNION ALL SELECT ref, at, nps, csat FROM ia WHERE type = 'survey_answered'
), fb_agg AS (
    SELECT ref, min(at) AS first_at, max(at) AS last_at, count(*) AS n,
           count(*) FILTER (WHERE sentiment = 'negative') AS negative,
           array_agg(DISTINCT channel ORDER BY channel) AS channels,
           avg(csat_expected) FILTER (WHERE recent <= 10)::real AS csat,
           stddev_samp(csat_expected) FILTER (WHERE recent <= 10)::real AS csat_sd
    FROM fb GROUP BY ref
), ia_agg AS (
    SELECT ref, min(at) AS first_at, max(at) AS last_at, count(*) AS n,
           count(*) FILTER (WHERE type = 'order') AS orders,
           COALESCE(sum(value) FILTER (WHERE type = 'order'), 0)::double precision AS revenue,
           min(at) FILTER (WHERE type = 'cancellation') AS cancelled_at
    FROM ia GROUP BY ref
), answer_agg AS (
    SELECT ref,
           (array_agg(nps ORDER BY at DESC) FILTER (WHERE nps IS NOT NULL))[1] AS nps,
           (array_agg(csat ORDER BY at DESC) FILTER (WHERE csat IS NOT NULL))[1] AS csat
    FROM answers GROUP BY ref
), complaint_agg AS (
    SELECT f.customer_ref AS ref, count(*) AS n
    FROM complaints c JOIN feedback f ON f.id = c.feedback_id
    WHERE c.tenant_id = %(tenant)s AND c.kind = 'complaint' AND f.customer_ref IS NOT NULL
      {feedback_scope}
    GROUP BY 1
), refs AS (
    SELECT ref FROM fb_agg UNION SELECT ref FROM ia_agg
)
SELECT r.ref,
       LEAST(fa.first_at, ia.first_at) AS first_contact_at,
       GREATEST(fa.last_at, ia.last_at) AS last_contact_at,
       fa.last_at AS last_feedback_at,
       COALESCE(fa.n, 0)::integer AS feedback_count,
       COALESCE(fa.negative, 0)::integer AS negative_count,
       COALESCE(fa.channels, '{}') AS channels,
       fa.csat AS csat_inferred,
       fa.csat_sd AS csat_inferred_sd,
       an.csat::real AS csat_real,
       an.nps::smallint AS nps_real,
       COALESCE(ia.n, 0)::integer AS interaction_count,
       COALESCE(ia.orders, 0)::integer AS order_count,
       COALESCE(ia.revenue, 0)::double precision AS revenue,
       COALESCE(ca.n, 0)::integer AS complaint_count,
       ia.cancelled_at
FROM refs r
LEFT JOIN fb_agg fa ON fa.ref = r.ref
LEFT JOIN ia_agg ia ON ia.ref = r.ref
LEFT JOIN answer_agg an ON an.ref = r.ref
LEFT JOIN complaint_agg ca ON ca.ref = r.ref
"""


def _aggregate(scoped: bool) -> str:
    """The aggregate over the %(refs)s customers (``scoped``) or over the whole tenant.

    Two texts rather than ``refs IS NULL OR ref = ANY(refs)``: with the OR the planner
    cannot use the (tenant, customer_ref) indexes and filters every row of the tenant
    against the whole array, which made a refresh of 5,000 profiles among 200,000
    interactions take tens of seconds.
    """
    feedback, interaction = (
        ("AND f.customer_ref = ANY(%(refs)s::text[])", "AND i.customer_ref = ANY(%(refs)s::text[])")
        if scoped
        else ("", "")
    )
    return _AGGREGATE.replace("{feedback_scope}", feedback).replace(
        "{interaction_scope}", interaction
    )


PROFILE_COLUMNS = """
    c.ref, c.first_contact_at, c.last_contact_at, c.last_feedback_at, c.feedback_count,
    c.negative_count, c.channels, c.csat_inferred, c.csat_inferred_sd, c.csat_real, c.nps_real,
    c.interaction_count, c.order_count, c.revenue, c.complaint_count, c.cancelled_at,
    c.risk_score, c.risk_band, c.risk_reasons, c.csat_trend, c.segment, c.segment_source,
    c.scored_at, c.updated_at, c.dirty
"""


def _refresh(returning: bool) -> str:
    """The refresh upsert over %(refs)s, returning the refreshed profiles if asked."""
    columns = ", ".join(AGGREGATE_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in AGGREGATE_COLUMNS)
    return f"""
        INSERT INTO customers AS c (tenant_id, ref, dirty, updated_at, {columns})
        SELECT %(tenant)s, agg.ref, false, now(), {", ".join(f"agg.{c}" for c in AGGREGATE_COLUMNS)}
        FROM ({_aggregate(scoped=True)}) agg
        ORDER BY agg.ref
        ON CONFLICT (tenant_id, ref) DO UPDATE SET {updates}, dirty = false, updated_at = now()
        {f"RETURNING {PROFILE_COLUMNS}" if returning else ""}
        """


def refresh_profiles(conn: Conn, tenant_id: UUID, refs: Sequence[str]) -> None:
    """Recompute the aggregate columns of these customers from their rows; clears ``dirty``.

    Sorted refs lock the profile rows in a fixed order, so concurrent refreshes do not
    deadlock.
    """
    if not refs:
        return
    conn.execute(_refresh(returning=False), {"tenant": tenant_id, "refs": sorted(set(refs))})


@dataclass(frozen=True)
class ScoringInputs:
    """What the rescoring of some customers reads: their profiles (scores still the
    previous ones), their feedback and interactions by ref, the tenant's active churn model
    and customer settings documents."""

    profiles: dict[str, dict[str, Any]]
    feedback: dict[str, list[dict[str, Any]]]
    interactions: dict[str, list[dict[str, Any]]]
    model: dict[str, Any] | None
    settings: dict[str, Any] | None


def scoring_inputs(
    conn: Conn, tenant_id: UUID, refs: Sequence[str], refresh: bool
) -> ScoringInputs:
    """Read what the rescoring needs in one round trip; with ``refresh``, refresh the
    profiles first (``refresh_profiles``, in the same round trip: its upsert returns them).

    The four statements go in one pipeline: a batch's profile maintenance cost one round
    trip per statement, which on a loaded machine is what it mostly cost.
    """
    ordered = sorted(set(refs))
    params = {"tenant": tenant_id, "refs": ordered}
    with conn.pipeline():
        first = (
            conn.execute(_refresh(returning=True), params, prepare=True)
            if refresh
            else conn.execute(
                f"SELECT {PROFILE_COLUMNS} FROM customers c"
                " WHERE c.tenant_id = %(tenant)s AND c.ref = ANY(%(refs)s)",
                params,
                prepare=True,
            )
        )
        feedback = conn.execute(_FEEDBACK_OF, (tenant_id, ordered), prepare=True)
        interactions = conn.execute(
            interactions_store.INTERACTIONS_OF, (tenant_id, ordered), prepare=True
        )
        context = conn.execute(_SCORING_CONTEXT, params, prepare=True)
    row = context.fetchone()
    assert row is not None  # a SELECT without FROM gives one row
    return ScoringInputs(
        profiles={r["ref"]: r for r in first.fetchall()},
        feedback=interactions_store.by_ref(feedback.fetchall(), ordered),
        interactions=interactions_store.by_ref(interactions.fetchall(), ordered),
        model=None if row["model"] is None else dict(row["model"]),
        settings=None if row["settings"] is None else dict(row["settings"]),
    )


def reconcile(conn: Conn, tenant_id: UUID) -> dict[str, Any]:
    """Check every profile of the tenant against its rows.

    Returns ``checked`` (profiles compared), ``pending`` (refs flagged dirty: new
    interactions whose refresh has not run yet) and ``mismatches``: one entry per
    customer whose stored aggregates differ from the rows (``columns`` names them), or
    who has rows but no profile (``missing``), or a profile but no rows (``orphan``).
    """
    columns = list(AGGREGATE_COLUMNS)
    differs = " OR ".join(f"c.{col} IS DISTINCT FROM agg.{col}" for col in columns)
    named = ", ".join(
        f"CASE WHEN c.{col} IS DISTINCT FROM agg.{col} THEN '{col}' END" for col in columns
    )
    rows = conn.execute(
        f"""
        SELECT COALESCE(c.ref, agg.ref) AS ref, c.ref IS NULL AS missing,
               agg.ref IS NULL AS orphan, c.dirty,
               ARRAY[{named}] AS columns
        FROM (SELECT * FROM customers WHERE tenant_id = %(tenant)s) c
        FULL JOIN ({_aggregate(scoped=False)}) agg ON agg.ref = c.ref
        WHERE c.ref IS NULL OR agg.ref IS NULL OR c.dirty OR {differs}
        ORDER BY 1
        """,
        {"tenant": tenant_id},
    ).fetchall()
    total = conn.execute(
        "SELECT count(*) AS n FROM customers WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()
    pending = [r["ref"] for r in rows if r["dirty"]]
    mismatches = [
        {
            "ref": r["ref"],
            "missing": r["missing"],
            "orphan": r["orphan"],
            "columns": [] if r["missing"] or r["orphan"] else [c for c in r["columns"] if c],
        }
        for r in rows
        if not r["dirty"]
    ]
    return {"checked": total["n"] if total else 0, "pending": pending, "mismatches": mismatches}


def claim_dirty(conn: Conn, limit: int) -> list[tuple[UUID, str]]:
    """Lock up to ``limit`` profiles waiting for a refresh, over all tenants: (tenant, ref).

    Rows another transaction holds are skipped, so several workers can refresh at once.
    """
    rows = conn.execute(
        """
        SELECT tenant_id, ref FROM customers WHERE dirty ORDER BY tenant_id, ref LIMIT %s
        FOR UPDATE SKIP LOCKED
        """,
        (limit,),
    ).fetchall()
    return [(r["tenant_id"], r["ref"]) for r in rows]


def scorable_refs(conn: Conn, tenant_id: UUID, after: str | None, limit: int) -> list[str]:
    """The tenant's customer refs in order, a page at a time (for the periodic rescoring)."""
    rows = conn.execute(
        """
        SELECT ref FROM customers WHERE tenant_id = %s AND (%s::text IS NULL OR ref > %s)
        ORDER BY ref LIMIT %s
        """,
        (tenant_id, after, after, limit),
    ).fetchall()
    return [r["ref"] for r in rows]


def tenants_with_customers(conn: Conn) -> list[UUID]:
    """Tenants that have at least one profile."""
    rows = conn.execute("SELECT DISTINCT tenant_id FROM customers ORDER BY 1").fetchall()
    return [r["tenant_id"] for r in rows]


_FEEDBACK_OF = """
SELECT f.id, f.customer_ref, f.channel, f.source, f.external_id,
       left(f.text, 300) AS excerpt,
       COALESCE(f.occurred_at, f.received_at) AS at, f.rating, f.survey_score,
       a.sentiment, a.csat_expected, a.nps_class, a.churn_risk, a.severity,
       a.complaint, a.complaint_category,
       c.id AS complaint_id, c.status AS complaint_status,
       c.reopen_count AS complaint_reopen_count
FROM feedback f JOIN analyses a ON a.feedback_id = f.id
     LEFT JOIN complaints c ON c.feedback_id = f.id
WHERE f.tenant_id = %s AND f.customer_ref = ANY(%s)
ORDER BY f.customer_ref, COALESCE(f.occurred_at, f.received_at), f.id
"""


def feedback_of(
    conn: Conn, tenant_id: UUID, refs: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Every analysed item of these customers with its analysis and complaint, oldest first."""
    rows = conn.execute(_FEEDBACK_OF, (tenant_id, list(refs)), prepare=True).fetchall()
    return interactions_store.by_ref(rows, refs)


@dataclass(frozen=True)
class Score:
    """What the scorer concluded about one customer."""

    ref: str
    risk_score: float
    risk_band: str
    reasons: list[dict[str, Any]]
    csat_trend: float | None
    segment: str | None
    segment_source: str | None


def save_scores(conn: Conn, tenant_id: UUID, scores: Sequence[Score], at: datetime) -> None:
    """Store the scores; a segment change is recorded in the segment history.

    One statement: the history's insert reads the segments before the update (every part
    of a statement sees the same snapshot). The arrays go in binary (``%b``): the text
    format escapes every element with a regex, which for the JSON of the reasons cost more
    than the statement itself.
    """
    if not scores:
        return
    conn.execute(
        """
        WITH u AS MATERIALIZED (
            SELECT * FROM unnest(%(refs)b::text[], %(scores)b::real[], %(bands)b::text[],
                                 %(reasons)b::jsonb[], %(trends)b::real[],
                                 %(segments)b::text[], %(sources)b::text[])
                AS u(ref, score, band, reasons, trend, segment, source)
        ), history AS (
            INSERT INTO customer_segment_history (tenant_id, ref, segment, previous, source,
                                                  risk_score, changed_at)
            SELECT %(tenant)s, u.ref, u.segment, c.segment, u.source, u.score, %(at)s
            FROM u JOIN customers c ON c.tenant_id = %(tenant)s AND c.ref = u.ref
            WHERE c.segment IS DISTINCT FROM u.segment
        )
        UPDATE customers c SET risk_score = u.score, risk_band = u.band, risk_reasons = u.reasons,
               csat_trend = u.trend, segment = u.segment, segment_source = u.source,
               scored_at = %(at)s
        FROM u
        WHERE c.tenant_id = %(tenant)s AND c.ref = u.ref
        """,
        {
            "tenant": tenant_id,
            "at": at,
            "refs": [s.ref for s in scores],
            "scores": [s.risk_score for s in scores],
            "bands": [s.risk_band for s in scores],
            "reasons": [Jsonb(s.reasons) for s in scores],
            "trends": [s.csat_trend for s in scores],
            "segments": [s.segment for s in scores],
            "sources": [s.segment_source for s in scores],
        },
        prepare=True,
    )


@dataclass(frozen=True)
class CustomerFilter:
    """Filters of the customer list; None means any."""

    segment: str | None = None
    risk_band: str | None = None
    channel: str | None = None
    last_contact_after: datetime | None = None
    last_contact_before: datetime | None = None
    silent: bool | None = None
    cancelled: bool | None = None


def _where(tenant_id: UUID, filters: CustomerFilter) -> tuple[list[str], dict[str, Any]]:
    clauses = ["c.tenant_id = %(tenant)s", "NOT c.dirty OR c.scored_at IS NOT NULL"]
    params: dict[str, Any] = {"tenant": tenant_id}
    for column in ("segment", "risk_band"):
        value = getattr(filters, column)
        if value is not None:
            clauses.append(f"c.{column} = %({column})s")
            params[column] = value
    if filters.channel is not None:
        clauses.append("%(channel)s = ANY(c.channels)")
        params["channel"] = filters.channel
    if filters.last_contact_after is not None:
        clauses.append("c.last_contact_at >= %(contact_after)s")
        params["contact_after"] = filters.last_contact_after
    if filters.last_contact_before is not None:
        clauses.append("c.last_contact_at < %(contact_before)s")
        params["contact_before"] = filters.last_contact_before
    if filters.silent is not None:
        clauses.append("(c.complaint_count = 0)" if filters.silent else "(c.complaint_count > 0)")
    if filters.cancelled is not None:
        clauses.append(
            "c.cancelled_at IS NOT NULL" if filters.cancelled else "c.cancelled_at IS NULL"
        )
    return [f"({c})" for c in clauses], params


def list_customers(
    conn: Conn,
    tenant_id: UUID,
    filters: CustomerFilter,
    limit: int,
    after: tuple[float, str] | None = None,
) -> list[dict[str, Any]]:
    """Highest risk first (unscored last); ``after`` is the (risk, ref) that ended the last page.

    Unscored profiles sort as risk -1 so the keyset stays a plain tuple comparison. The
    risk is compared as float8: psycopg reads a real as its shortest decimal, which is not
    the same number once Postgres widens the real again.
    """
    clauses, params = _where(tenant_id, filters)
    params["limit"] = limit
    if after is not None:
        clauses.append(
            "(COALESCE(c.risk_score, -1)::float8, c.ref)"
            " < (%(cursor_risk)s::float8, %(cursor_ref)s)"
        )
        params["cursor_risk"], params["cursor_ref"] = after
    return conn.execute(
        f"""
        SELECT {PROFILE_COLUMNS}, COALESCE(c.risk_score, -1)::float8 AS sort_risk
        FROM customers c WHERE {" AND ".join(clauses)}
        ORDER BY COALESCE(c.risk_score, -1) DESC, c.ref DESC
        LIMIT %(limit)s
        """,
        params,
    ).fetchall()


def count_customers(conn: Conn, tenant_id: UUID, filters: CustomerFilter) -> int:
    """How many profiles match the filters."""
    clauses, params = _where(tenant_id, filters)
    row = conn.execute(
        f"SELECT count(*) AS n FROM customers c WHERE {' AND '.join(clauses)}", params
    ).fetchone()
    return int(row["n"]) if row else 0


def get_customer(conn: Conn, tenant_id: UUID, ref: str) -> dict[str, Any] | None:
    """One profile of the tenant."""
    return conn.execute(
        f"SELECT {PROFILE_COLUMNS} FROM customers c WHERE c.tenant_id = %s AND c.ref = %s",
        (tenant_id, ref),
    ).fetchone()


def complaints_of(conn: Conn, tenant_id: UUID, ref: str) -> list[dict[str, Any]]:
    """The customer's complaints and recovery cases, newest first."""
    return conn.execute(
        """
        SELECT c.id, c.kind, c.feedback_id, c.status, c.priority, c.category, c.reasons,
               c.flagged_at, c.resolved_at, c.resolution_code, c.reopen_count,
               c.suggested_action
        FROM complaints c LEFT JOIN feedback f ON f.id = c.feedback_id
        WHERE c.tenant_id = %(tenant)s
          AND (f.customer_ref = %(ref)s OR (c.kind = 'recovery' AND c.customer_ref = %(ref)s))
        ORDER BY c.flagged_at DESC, c.id DESC
        """,
        {"tenant": tenant_id, "ref": ref},
    ).fetchall()


def segment_history(conn: Conn, tenant_id: UUID, ref: str) -> list[dict[str, Any]]:
    """Every segment change of the customer, oldest first."""
    return conn.execute(
        """
        SELECT segment, previous, source, risk_score, changed_at FROM customer_segment_history
        WHERE tenant_id = %s AND ref = %s ORDER BY id
        """,
        (tenant_id, ref),
    ).fetchall()


def get_settings(conn: Conn, tenant_id: UUID) -> dict[str, Any] | None:
    """The tenant's stored customer settings document, if any."""
    row = conn.execute(
        "SELECT settings FROM customer_settings WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()
    return None if row is None else dict(row["settings"])


def put_settings(conn: Conn, tenant_id: UUID, settings: dict[str, Any]) -> None:
    """Replace the tenant's customer settings document."""
    conn.execute(
        """
        INSERT INTO customer_settings (tenant_id, settings) VALUES (%s, %s)
        ON CONFLICT (tenant_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = now()
        """,
        (tenant_id, Jsonb(settings)),
    )


_SCORING_CONTEXT = """
SELECT (SELECT model FROM churn_models WHERE tenant_id = %(tenant)s AND active) AS model,
       (SELECT settings FROM customer_settings WHERE tenant_id = %(tenant)s) AS settings
"""


def active_churn_model(conn: Conn, tenant_id: UUID) -> dict[str, Any] | None:
    """The tenant's trained churn model, if one is stored and in use."""
    row = conn.execute(
        "SELECT model FROM churn_models WHERE tenant_id = %s AND active", (tenant_id,)
    ).fetchone()
    return None if row is None else dict(row["model"])


def put_churn_model(conn: Conn, tenant_id: UUID, model: dict[str, Any], active: bool) -> None:
    """Store the tenant's latest churn model and whether it replaces the transparent score."""
    conn.execute(
        """
        INSERT INTO churn_models (tenant_id, model, active) VALUES (%s, %s, %s)
        ON CONFLICT (tenant_id) DO UPDATE
            SET model = EXCLUDED.model, active = EXCLUDED.active, trained_at = now()
        """,
        (tenant_id, Jsonb(model), active),
    )


@dataclass(frozen=True)
class RecoveryCase:
    """A recovery case to open in the complaint inbox for a customer."""

    ref: str
    priority: str
    risk: float
    reasons: Sequence[str]
    suggested_action: str
    flagged_at: datetime
    sla_due_at: datetime


def open_recovery_cases(
    conn: Conn, tenant_id: UUID, cases: Sequence[RecoveryCase]
) -> dict[str, UUID]:
    """Open the cases; a customer with an unresolved one is skipped. Returns ref -> case id."""
    if not cases:
        return {}
    rows = conn.execute(
        """
        INSERT INTO complaints (tenant_id, kind, customer_ref, priority, priority_score, reasons,
            category, channel, severity, churn_risk, complaint_score, suggested_action,
            flagged_at, sla_due_at, updated_at)
        SELECT %s, 'recovery', u.ref, u.priority, u.risk * 10,
               ARRAY(SELECT jsonb_array_elements_text(u.reasons)), 'other', 'customer',
               'medium', true, u.risk, u.action, u.flagged_at, u.due, u.flagged_at
        FROM unnest(%s::text[], %s::text[], %s::real[], %s::jsonb[], %s::text[],
                    %s::timestamptz[], %s::timestamptz[])
             AS u(ref, priority, risk, reasons, action, flagged_at, due)
        ON CONFLICT (tenant_id, customer_ref) WHERE kind = 'recovery' AND status <> 'resolved'
        DO NOTHING
        RETURNING id, customer_ref
        """,
        (
            tenant_id,
            [c.ref for c in cases],
            [c.priority for c in cases],
            [c.risk for c in cases],
            [Jsonb(list(c.reasons)) for c in cases],
            [c.suggested_action for c in cases],
            [c.flagged_at for c in cases],
            [c.sla_due_at for c in cases],
        ),
    ).fetchall()
    if rows:
        conn.execute(
            """
            INSERT INTO complaint_history (complaint_id, tenant_id, action, actor, data)
            SELECT c.id, c.tenant_id, 'flagged', 'customer_policy',
                   jsonb_build_object('priority', c.priority, 'reasons', to_jsonb(c.reasons),
                                      'kind', 'recovery')
            FROM complaints c WHERE c.id = ANY(%s)
            """,
            ([r["id"] for r in rows],),
        )
    return {r["customer_ref"]: r["id"] for r in rows}


def lukewarm_topics(conn: Conn, tenant_id: UUID, refs: Sequence[str]) -> dict[str, list[str]]:
    """Per customer, the topics of their neutral or negative feedback, most frequent first."""
    rows = conn.execute(
        """
        SELECT f.customer_ref AS ref, COALESCE(t.label, t.auto_label) AS topic, count(*) AS n
        FROM feedback f JOIN analyses a ON a.feedback_id = f.id
             JOIN topic_assignments ta ON ta.feedback_id = f.id
             JOIN topics t ON t.tenant_id = ta.tenant_id
                          AND t.id = COALESCE((SELECT merged_into FROM topics m
                                               WHERE m.tenant_id = ta.tenant_id
                                                 AND m.id = ta.topic_id), ta.topic_id)
        WHERE f.tenant_id = %s AND f.customer_ref = ANY(%s) AND a.sentiment <> 'positive'
          AND NOT t.is_noise
        GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2
        """,
        (tenant_id, list(refs)),
    ).fetchall()
    out: dict[str, list[str]] = {r: [] for r in refs}
    for row in rows:
        out[row["ref"]].append(row["topic"])
    return out


def survey_contacts(
    conn: Conn, tenant_id: UUID, refs: Sequence[str]
) -> dict[str, tuple[datetime | None, datetime | None]]:
    """Per customer: when they last gave feedback (an item or a survey answer), and when
    they were last asked (a suggested survey or a ``survey_sent`` interaction)."""
    rows = conn.execute(
        """
        SELECT r.ref,
               GREATEST(
                   (SELECT max(COALESCE(f.occurred_at, f.received_at)) FROM feedback f
                    WHERE f.tenant_id = %(tenant)s AND f.customer_ref = r.ref),
                   (SELECT max(i.occurred_at) FROM interactions i
                    WHERE i.tenant_id = %(tenant)s AND i.customer_ref = r.ref
                      AND i.type = 'survey_answered')) AS last_feedback,
               GREATEST(
                   (SELECT max(s.suggested_at) FROM survey_suggestions s
                    WHERE s.tenant_id = %(tenant)s AND s.ref = r.ref),
                   (SELECT max(i.occurred_at) FROM interactions i
                    WHERE i.tenant_id = %(tenant)s AND i.customer_ref = r.ref
                      AND i.type = 'survey_sent')) AS last_asked
        FROM unnest(%(refs)s::text[]) AS r(ref)
        """,
        {"tenant": tenant_id, "refs": list(refs)},
    ).fetchall()
    return {r["ref"]: (r["last_feedback"], r["last_asked"]) for r in rows}


@dataclass(frozen=True)
class SurveySuggestion:
    """A survey to suggest to a customer after one of their interactions."""

    ref: str
    interaction_id: UUID
    survey: str
    channel: str


def record_survey_suggestions(
    conn: Conn, tenant_id: UUID, suggestions: Sequence[SurveySuggestion], at: datetime
) -> set[UUID]:
    """Record the suggestions (one per interaction at most); the interaction ids recorded now."""
    if not suggestions:
        return set()
    rows = conn.execute(
        """
        INSERT INTO survey_suggestions (tenant_id, ref, interaction_id, survey, channel,
                                        suggested_at)
        SELECT %s, * , %s FROM unnest(%s::text[], %s::uuid[], %s::text[], %s::text[])
        ON CONFLICT (tenant_id, interaction_id) DO NOTHING
        RETURNING interaction_id
        """,
        (
            tenant_id,
            at,
            [s.ref for s in suggestions],
            [s.interaction_id for s in suggestions],
            [s.survey for s in suggestions],
            [s.channel for s in suggestions],
        ),
    ).fetchall()
    return {r["interaction_id"] for r in rows}


# Loyalty per period and class. A customer is in a period when they did anything in it (an
# interaction); their class is their latest real answer at or before the period's end: NPS
# (survey_answered nps, feedback survey_score) and CSAT (survey_answered csat, stars).
_LOYALTY = """
WITH periods AS (
    SELECT (s AT TIME ZONE 'UTC') AS start, ((s + %(step)s::interval) AT TIME ZONE 'UTC') AS "end"
    FROM generate_series(
        date_trunc(%(unit)s, %(now)s::timestamptz AT TIME ZONE 'UTC')
            - (%(n)s - 1) * %(step)s::interval,
        date_trunc(%(unit)s, %(now)s::timestamptz AT TIME ZONE 'UTC'),
        %(step)s::interval) AS s
), answers AS MATERIALIZED (
    SELECT customer_ref AS ref, occurred_at AS at, (attributes->>'nps')::real AS nps,
           (attributes->>'csat')::real AS csat
    FROM interactions WHERE tenant_id = %(tenant)s AND type = 'survey_answered'
    UNION ALL
    SELECT customer_ref, COALESCE(occurred_at, received_at), survey_score, rating
    FROM feedback
    WHERE tenant_id = %(tenant)s AND customer_ref IS NOT NULL
      AND (survey_score IS NOT NULL OR rating IS NOT NULL)
), active AS (
    SELECT p.start, p."end", i.customer_ref AS ref,
           count(*) FILTER (WHERE i.type = 'order') AS orders,
           COALESCE(sum(i.value) FILTER (WHERE i.type = 'order'), 0) AS revenue,
           bool_or(i.type = 'cancellation') AS cancelled
    FROM periods p JOIN interactions i
         ON i.tenant_id = %(tenant)s AND i.occurred_at >= p.start AND i.occurred_at < p."end"
    GROUP BY 1, 2, 3
), classed AS (
    SELECT a.*,
           (SELECT CASE WHEN x.nps >= 9 THEN 'promoter' WHEN x.nps >= 7 THEN 'passive'
                        ELSE 'detractor' END
            FROM answers x WHERE x.ref = a.ref AND x.at < a."end" AND x.nps IS NOT NULL
            ORDER BY x.at DESC LIMIT 1) AS nps_class,
           (SELECT CASE WHEN x.csat >= 4 THEN 'high' WHEN x.csat >= 3 THEN 'neutral'
                        ELSE 'low' END
            FROM answers x WHERE x.ref = a.ref AND x.at < a."end" AND x.csat IS NOT NULL
            ORDER BY x.at DESC LIMIT 1) AS csat_band,
           CASE WHEN a."end" + (a."end" - a.start) > %(now)s THEN NULL
                ELSE NOT EXISTS (SELECT 1 FROM interactions n
                                 WHERE n.tenant_id = %(tenant)s AND n.customer_ref = a.ref
                                   AND n.occurred_at >= a."end"
                                   AND n.occurred_at < a."end" + (a."end" - a.start))
           END AS lapsed
    FROM active a
), dims AS (
    SELECT start, 'nps_class' AS dimension, COALESCE(nps_class, 'unknown') AS class, orders,
           revenue, cancelled, lapsed FROM classed
    UNION ALL
    SELECT start, 'csat_band', COALESCE(csat_band, 'unknown'), orders, revenue, cancelled,
           lapsed FROM classed
)
SELECT p.start, p."end", d.dimension, d.class,
       count(d.class) AS customers,
       count(*) FILTER (WHERE d.orders > 0) AS buyers,
       count(*) FILTER (WHERE d.orders > 1) AS repeat_buyers,
       COALESCE(sum(d.revenue), 0)::double precision AS revenue,
       count(*) FILTER (WHERE d.cancelled) AS cancelled,
       count(*) FILTER (WHERE d.lapsed) AS lapsed,
       bool_and(d.lapsed IS NOT NULL) AS lapse_known
FROM periods p LEFT JOIN dims d ON d.start = p.start
GROUP BY 1, 2, 3, 4
ORDER BY 1, 3, 4
"""

LOYALTY_STEPS = {"week": "1 week", "month": "1 month", "quarter": "3 months"}


def loyalty(
    conn: Conn, tenant_id: UUID, period: str, periods: int, now: datetime
) -> list[dict[str, Any]]:
    """Per period (UTC, the last ``periods`` up to ``now``), dimension and class: counts.

    One row per (period start, dimension, class) with ``customers`` (active in the
    period), ``buyers`` (at least one order), ``repeat_buyers`` (two or more), ``revenue``
    (their orders' values), ``cancelled`` (a cancellation in the period), ``lapsed`` (no
    interaction in the next period; ``lapse_known`` is false while that period is not
    over). A period with no activity has one row with ``dimension`` NULL.
    """
    return conn.execute(
        _LOYALTY,
        {
            "tenant": tenant_id,
            "unit": period,
            "step": LOYALTY_STEPS[period],
            "n": periods,
            "now": now,
        },
    ).fetchall()


def segment_entries(conn: Conn, tenant_id: UUID, since: datetime) -> dict[str, int]:
    """How many customers entered each segment since ``since`` (from the segment history)."""
    rows = conn.execute(
        """
        SELECT segment, count(DISTINCT ref) AS n FROM customer_segment_history
        WHERE tenant_id = %s AND changed_at >= %s AND segment IS NOT NULL GROUP BY segment
        """,
        (tenant_id, since),
    ).fetchall()
    return {r["segment"]: r["n"] for r in rows}
