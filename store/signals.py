"""Sums behind the inferred CSAT/NPS series and the CSAT-drop check.

The queries return sums, not ratios: intervals and calibration are computed
from them in plain code (workers.signals), where they are tested without a
database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from store.db import Conn
from store.topic_reports import THEME_ID, TOPIC_ID, TOPIC_JOINS

# Per item: the inferred probability of a 4-5 star answer (arrays are 1-based).
_SATISFIED = "(a.csat_distribution[4] + a.csat_distribution[5])"
_AT = "COALESCE(f.occurred_at, f.received_at)"

_SUMS = f"""
    count(*) AS n,
    sum({_SATISFIED}) AS satisfied_sum,
    count(*) FILTER (WHERE a.nps_class = 'promoter') AS promoters,
    count(*) FILTER (WHERE a.nps_class = 'detractor') AS detractors,
    count(f.rating) AS rated_n,
    count(*) FILTER (WHERE f.rating >= 4) AS rated_satisfied,
    sum({_SATISFIED}) FILTER (WHERE f.rating IS NOT NULL) AS rated_inferred_sum,
    sum(abs(a.csat_expected - f.rating)) AS rated_abs_error_sum,
    count(f.survey_score) AS surveyed_n,
    count(*) FILTER (WHERE f.survey_score >= 9) AS survey_promoters,
    count(*) FILTER (WHERE f.survey_score <= 6) AS survey_detractors,
    count(*) FILTER (WHERE f.survey_score IS NOT NULL AND a.nps_class = 'promoter')
        AS surveyed_inferred_promoters,
    count(*) FILTER (WHERE f.survey_score IS NOT NULL AND a.nps_class = 'detractor')
        AS surveyed_inferred_detractors
"""


# Each dimension a series or a drop check may split by: its column and SQL expression.
# Topic and theme resolve merges as the topic reports do (store.topic_reports).
DIMENSIONS = {
    "channel": ("channel", "f.channel"),
    "language": ("language", "a.language"),
    "topic": ("topic_id", TOPIC_ID),
    "theme": ("theme_id", THEME_ID),
}


def _split(dimensions: Sequence[str]) -> tuple[list[str], str]:
    """The known dimensions in a fixed order, and their ``expr AS column`` select list."""
    dims = [d for d in DIMENSIONS if d in dimensions]
    return dims, "".join(f", {DIMENSIONS[d][1]} AS {DIMENSIONS[d][0]}" for d in dims)


def _joins(dims: Sequence[str]) -> str:
    return TOPIC_JOINS if {"topic", "theme"} & set(dims) else ""


def series(
    conn: Conn,
    tenant_id: UUID,
    period: str,
    since: datetime | None,
    until: datetime | None,
    dimensions: Sequence[str],
    channel: str | None = None,
    language: str | None = None,
) -> list[dict[str, Any]]:
    """Sums per period (day or week, UTC) and the chosen dimensions (channel, language,
    topic, theme; -1 for an item in no topic or theme)."""
    if period not in ("day", "week"):
        raise ValueError(f"unknown period {period!r}")
    dims, select_dims = _split(dimensions)
    group = ", ".join(["1", *(str(i + 2) for i in range(len(dims)))])
    return conn.execute(
        f"""
        SELECT date_trunc(%(period)s, {_AT} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS period_start
               {select_dims}, {_SUMS}
        FROM analyses a JOIN feedback f ON f.id = a.feedback_id
        {_joins(dims)}
        WHERE f.tenant_id = %(tenant)s
          AND (%(since)s::timestamptz IS NULL OR {_AT} >= %(since)s::timestamptz)
          AND (%(until)s::timestamptz IS NULL OR {_AT} < %(until)s::timestamptz)
          AND (%(channel)s::text IS NULL OR f.channel = %(channel)s::text)
          AND (%(language)s::text IS NULL OR a.language = %(language)s::text)
        GROUP BY {group}
        ORDER BY {group}
        """,
        {
            "period": period,
            "tenant": tenant_id,
            "since": since,
            "until": until,
            "channel": channel,
            "language": language,
        },
    ).fetchall()


def segment_windows(
    conn: Conn,
    window_start: datetime,
    window_end: datetime,
    baseline_start: datetime,
    dimensions: Sequence[str] = ("channel", "language"),
) -> list[dict[str, Any]]:
    """Per tenant and segment (by default channel x language): CSAT sums in the recent
    window and in the baseline.

    The baseline is [baseline_start, window_start); only segments with items in the
    recent window are returned. Split by topic, items in no topic and topics marked
    as noise are left out: they are not a segment anyone acts on. Split by theme,
    likewise items in no theme and those of noise topics.
    """
    dims, select_dims = _split(dimensions)
    group = ", ".join(["1", *(str(i + 2) for i in range(len(dims)))])
    acted_on = [
        f"AND {column} >= 0 AND NOT coalesce(root.is_noise, false)"
        for dim, column in (("topic", TOPIC_ID), ("theme", THEME_ID))
        if dim in dims
    ]
    segment_filter = " ".join(acted_on)
    return conn.execute(
        f"""
        SELECT a.tenant_id {select_dims},
               count(*) FILTER (WHERE {_AT} >= %(ws)s) AS recent_n,
               COALESCE(sum({_SATISFIED}) FILTER (WHERE {_AT} >= %(ws)s), 0) AS recent_sum,
               count(*) FILTER (WHERE {_AT} < %(ws)s) AS base_n,
               COALESCE(sum({_SATISFIED}) FILTER (WHERE {_AT} < %(ws)s), 0) AS base_sum
        FROM analyses a JOIN feedback f ON f.id = a.feedback_id
        {_joins(dims)}
        WHERE {_AT} >= %(bs)s AND {_AT} < %(we)s {segment_filter}
        GROUP BY {group}
        HAVING count(*) FILTER (WHERE {_AT} >= %(ws)s) > 0
        """,
        {"ws": window_start, "we": window_end, "bs": baseline_start},
    ).fetchall()


def claim_alert(conn: Conn, tenant_id: UUID, kind: str, segment: str, window_end: datetime) -> bool:
    """Record that an alert fires for this segment and window; False if it already did."""
    row = conn.execute(
        """
        INSERT INTO signal_alerts (tenant_id, kind, segment, window_end) VALUES (%s, %s, %s, %s)
        ON CONFLICT DO NOTHING RETURNING tenant_id
        """,
        (tenant_id, kind, segment, window_end),
    ).fetchone()
    return row is not None
