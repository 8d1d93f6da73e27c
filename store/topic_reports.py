"""Read-side queries for topic and theme reports: counts and CSAT sums per topic, day...

Every query resolves analyst merges (an item of a merged topic counts under the
topic it was merged into, and in that topic's theme) and reads an item's time as
``occurred_at`` when the source gave one, else ``received_at``. Days are UTC days.
Rows carry both the topic and the theme, so one query serves both levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from store.db import Conn


@dataclass(frozen=True)
class ReportFilter:
    """Which items a report covers."""

    start: datetime | None = None
    end: datetime | None = None
    channels: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None


Level = Literal["topic", "theme"]

# An analysis ``a``'s effective topic: its assigned topic ``t``, or the topic ``root`` that
# one was merged into, whose theme the item counts in. Also the signals' (store.signals).
TOPIC_JOINS = """
    LEFT JOIN topic_assignments ta ON ta.feedback_id = a.feedback_id
    LEFT JOIN topics t ON t.tenant_id = a.tenant_id AND t.id = ta.topic_id
    LEFT JOIN topics root
        ON root.tenant_id = a.tenant_id AND root.id = coalesce(t.merged_into, ta.topic_id)
"""
TOPIC_ID = "coalesce(t.merged_into, ta.topic_id, -1)"
"""The effective topic of an item under :data:`TOPIC_JOINS` (-1: none or outlier)."""
THEME_ID = "coalesce(root.theme_id, -1)"
"""The theme of an item's effective topic (-1: none)."""

# The analysed items in a filter, with their effective topic and its theme (-1: none or
# outlier). Also the CX-analyst digest's (store.notifications.analyst_summary).
ITEMS = f"""
    SELECT f.id, coalesce(f.occurred_at, f.received_at) AS ts, f.channel, f.text, f.customer_ref,
           a.language, a.sentiment, a.csat_expected, a.complaint, a.nps_class,
           {TOPIC_ID} AS topic_id, {THEME_ID} AS theme_id, ta.similarity
    FROM analyses a
    JOIN feedback f ON f.id = a.feedback_id
    {TOPIC_JOINS}
    WHERE a.tenant_id = %(tenant)s
      AND (%(start)s::timestamptz IS NULL OR coalesce(f.occurred_at, f.received_at) >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR coalesce(f.occurred_at, f.received_at) < %(end)s)
      AND (%(channels)s::text[] IS NULL OR f.channel = ANY(%(channels)s))
      AND (%(languages)s::text[] IS NULL OR a.language = ANY(%(languages)s))
"""


def _params(tenant_id: UUID, flt: ReportFilter, **extra: Any) -> dict[str, Any]:
    return {
        "tenant": tenant_id,
        "start": flt.start,
        "end": flt.end,
        "channels": list(flt.channels) if flt.channels else None,
        "languages": list(flt.languages) if flt.languages else None,
        **extra,
    }


def breakdown(conn: Conn, tenant_id: UUID, flt: ReportFilter) -> list[dict[str, Any]]:
    """Item counts and CSAT sums per (topic, theme, channel, language, sentiment, complaint,
    nps)."""
    return conn.execute(
        f"""
        WITH items AS ({ITEMS})
        SELECT topic_id, theme_id, channel, language, sentiment, complaint, nps_class,
               count(*) AS n, sum(csat_expected) AS csat_sum
        FROM items GROUP BY 1, 2, 3, 4, 5, 6, 7
        """,
        _params(tenant_id, flt),
    ).fetchall()


def daily(conn: Conn, tenant_id: UUID, flt: ReportFilter) -> list[dict[str, Any]]:
    """Per topic (with its theme) and UTC day: items, negatives, complaints, CSAT sum,
    promoters, detractors."""
    return conn.execute(
        f"""
        WITH items AS ({ITEMS})
        SELECT topic_id, theme_id, (ts AT TIME ZONE 'UTC')::date AS day, count(*) AS n,
               count(*) FILTER (WHERE sentiment = 'negative') AS negative,
               count(*) FILTER (WHERE complaint) AS complaints,
               sum(csat_expected) AS csat_sum,
               count(*) FILTER (WHERE nps_class = 'promoter') AS promoters,
               count(*) FILTER (WHERE nps_class = 'detractor') AS detractors
        FROM items GROUP BY 1, 2, 3 ORDER BY 3
        """,
        _params(tenant_id, flt),
    ).fetchall()


def quotes(
    conn: Conn,
    tenant_id: UUID,
    group_id: int,
    flt: ReportFilter,
    limit: int,
    level: Level = "topic",
) -> list[dict[str, Any]]:
    """The most representative items of a topic, or of each of a theme's topics: those
    nearest their topic's centroid, at most ``limit`` per topic."""
    column = {"topic": "topic_id", "theme": "theme_id"}[level]
    # Ranked within each topic, then taken rank by rank: a theme's list starts with
    # every topic's best item instead of its largest topic's first fifty.
    return conn.execute(
        f"""
        WITH items AS ({ITEMS}), ranked AS (
            SELECT id, ts, channel, language, sentiment, csat_expected, complaint, text,
                   similarity, topic_id,
                   row_number() OVER (PARTITION BY topic_id
                                      ORDER BY similarity DESC NULLS LAST, id) AS rank
            FROM items WHERE {column} = %(group)s
        )
        SELECT id, ts, channel, language, sentiment, csat_expected, complaint, text, similarity,
               topic_id
        FROM ranked WHERE rank <= %(limit)s
        ORDER BY rank, similarity DESC NULLS LAST, id
        """,
        _params(tenant_id, flt, group=group_id, limit=limit),
    ).fetchall()


def window_counts(
    conn: Conn, tenant_id: UUID, end: datetime, window_days: int, windows: int
) -> list[dict[str, Any]]:
    """Per effective topic and trailing window (0 = the latest): items and negatives.

    Windows are ``window_days`` long and end at ``end``; window ``k`` covers
    ``[end - (k+1)·w, end - k·w)``.
    """
    return conn.execute(
        f"""
        WITH items AS ({ITEMS})
        SELECT topic_id,
               floor(extract(epoch FROM %(end)s::timestamptz - ts)
                     / (86400.0 * %(days)s))::int AS win,
               count(*) AS n, count(*) FILTER (WHERE sentiment = 'negative') AS negative
        FROM items WHERE topic_id >= 0 GROUP BY 1, 2
        """,
        _params(
            tenant_id,
            ReportFilter(start=end - timedelta(days=window_days * windows), end=end),
            days=window_days,
        ),
    ).fetchall()
