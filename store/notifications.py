"""Notification channels (Slack, Teams, e-mail): their rows, routing fan-out, rate slots.

Channels are delivery targets of the webhook outbox (store.webhooks): a channel's
deliveries are rows of ``deliveries`` with ``channel_id`` set, claimed, retried,
dead-lettered and replayed like a subscription's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from store.db import Conn
from store.topic_reports import ITEMS
from store.webhooks import DUE_COLUMNS, DueDelivery

# The secret itself (secret_enc) is never selected for an answer; secret_hint is its masked tail.
CHANNEL_COLUMNS = """id, kind, name, language, enabled, config, secret_hint, event_types,
    min_priority, categories, languages, quiet_start, quiet_end, max_per_minute, digest,
    digest_hour, digest_audiences, created_at"""

# Columns a create or an update may set (everything but the id, tenant and bookkeeping).
WRITABLE = (
    "kind",
    "name",
    "language",
    "enabled",
    "config",
    "secret_enc",
    "secret_hint",
    "event_types",
    "min_priority",
    "categories",
    "languages",
    "quiet_start",
    "quiet_end",
    "max_per_minute",
    "digest",
    "digest_hour",
    "digest_audiences",
    "digest_last_at",
)


def _values(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(WRITABLE)
    if unknown:
        raise ValueError(f"not channel columns: {sorted(unknown)}")
    return {k: Jsonb(v) if k == "config" else v for k, v in fields.items()}


def create_channel(conn: Conn, tenant_id: UUID, fields: dict[str, Any]) -> dict[str, Any]:
    """Store a channel; ``fields`` are columns of WRITABLE (the secret already encrypted)."""
    values = _values(fields)
    names = ", ".join(values)
    marks = ", ".join(f"%({k})s" for k in values)
    row = conn.execute(
        f"INSERT INTO notification_channels (tenant_id, {names}) VALUES (%(tenant)s, {marks}) "
        f"RETURNING {CHANNEL_COLUMNS}",
        {**values, "tenant": tenant_id},
    ).fetchone()
    assert row is not None
    return row


def update_channel(
    conn: Conn, tenant_id: UUID, channel_id: UUID, fields: dict[str, Any]
) -> dict[str, Any] | None:
    """Change these columns of a channel; None when the tenant has no such channel."""
    values = _values(fields)
    if not values:
        return get_channel(conn, tenant_id, channel_id)
    sets = ", ".join(f"{k} = %({k})s" for k in values)
    return conn.execute(
        f"UPDATE notification_channels SET {sets} WHERE tenant_id = %(tenant)s AND id = %(id)s "
        f"RETURNING {CHANNEL_COLUMNS}",
        {**values, "tenant": tenant_id, "id": channel_id},
    ).fetchone()


def list_channels(conn: Conn, tenant_id: UUID) -> list[dict[str, Any]]:
    """The tenant's channels, oldest first."""
    return conn.execute(
        f"SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE tenant_id = %s "
        "ORDER BY created_at, id",
        (tenant_id,),
    ).fetchall()


def get_channel(conn: Conn, tenant_id: UUID, channel_id: UUID) -> dict[str, Any] | None:
    """One channel of the tenant, without its secret."""
    return conn.execute(
        f"SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE tenant_id = %s AND id = %s",
        (tenant_id, channel_id),
    ).fetchone()


def delete_channel(conn: Conn, tenant_id: UUID, channel_id: UUID) -> bool:
    """Remove a channel and its deliveries; False if it was not there."""
    cur = conn.execute(
        "DELETE FROM notification_channels WHERE tenant_id = %s AND id = %s",
        (tenant_id, channel_id),
    )
    return cur.rowcount == 1


def channel_for_sending(conn: Conn, channel_id: UUID) -> dict[str, Any] | None:
    """What the worker needs to send: the channel with its encrypted secret and the zone."""
    return conn.execute(
        f"""
        SELECT {", ".join(f"c.{c.strip()}" for c in CHANNEL_COLUMNS.split(","))},
               c.tenant_id, c.secret_enc, t.time_zone
        FROM notification_channels c JOIN tenants t ON t.id = c.tenant_id
        WHERE c.id = %s
        """,
        (channel_id,),
    ).fetchone()


# The deliveries to each enabled channel whose routing rules an event matches, for the
# events of the relation ``{events}`` (store.events.append_events queues them in the
# statement that inserts the events). A rule left unset matches everything; an event
# without the field a rule looks at (a CSAT drop has no priority) is not filtered by that
# rule. Priorities compare as text because 'p1' < 'p2' is urgency order. A CSAT drop's
# language is its segment's.
FAN_OUT = """
    INSERT INTO deliveries (tenant_id, event_id, channel_id)
    SELECT e.tenant_id, e.id, c.id
    FROM {events} e
    JOIN notification_channels c ON c.tenant_id = e.tenant_id AND c.enabled
         AND e.type = ANY(c.event_types)
         AND (c.min_priority IS NULL OR e.payload->>'priority' IS NULL
              OR e.payload->>'priority' <= c.min_priority)
         AND (c.categories IS NULL OR e.payload->>'category' IS NULL
              OR e.payload->>'category' = ANY(c.categories))
         AND (c.languages IS NULL
              OR COALESCE(e.payload->>'language', e.payload#>>'{{segment,language}}') IS NULL
              OR COALESCE(e.payload->>'language', e.payload#>>'{{segment,language}}')
                 = ANY(c.languages))
"""


def claim_backlog(
    conn: Conn, channel_id: UUID, exclude: Sequence[UUID], limit: int, lease_s: float
) -> list[DueDelivery]:
    """Claim more due deliveries of one channel, to send in the same message as a claim's."""
    rows = conn.execute(
        f"""
        WITH picked AS (
            SELECT id FROM deliveries
            WHERE channel_id = %(channel)s AND status = 'pending' AND next_attempt_at <= now()
              AND NOT id = ANY(%(exclude)s::uuid[])
            ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
        UPDATE deliveries d
        SET next_attempt_at = now() + make_interval(secs => %(lease)s),
            attempts = d.attempts + 1
        FROM picked p JOIN deliveries dd ON dd.id = p.id
             JOIN events e ON e.id = dd.event_id
             -- A channel has no subscription: s stays empty, so DUE_COLUMNS reads as in a claim.
             LEFT JOIN webhook_subscriptions s ON false
        WHERE d.id = p.id
        RETURNING {DUE_COLUMNS}
        """,
        {"channel": channel_id, "exclude": list(exclude), "limit": limit, "lease": lease_s},
    ).fetchall()
    return [DueDelivery(**r) for r in rows]


def take_send_slot(conn: Conn, channel_id: UUID) -> float:
    """Count one message against the channel's per-minute limit; 0.0, or seconds to wait.

    A fixed one-minute window per channel: the first message opens it, and once
    ``max_per_minute`` were sent in it the rest wait for the next (where the worker
    gathers them into one message).
    """
    row = conn.execute(
        """
        UPDATE notification_channels
        SET window_started_at = CASE
                WHEN window_started_at IS NULL OR window_started_at <= now() - interval '1 minute'
                THEN now() ELSE window_started_at END,
            window_count = CASE
                WHEN window_started_at IS NULL OR window_started_at <= now() - interval '1 minute'
                THEN 1 ELSE window_count + 1 END
        WHERE id = %s
          AND (window_started_at IS NULL OR window_started_at <= now() - interval '1 minute'
               OR window_count < max_per_minute)
        RETURNING id
        """,
        (channel_id,),
    ).fetchone()
    if row is not None:
        return 0.0
    wait = conn.execute(
        """
        SELECT GREATEST(0.1, extract(epoch FROM window_started_at + interval '1 minute' - now()))
               AS s
        FROM notification_channels WHERE id = %s
        """,
        (channel_id,),
    ).fetchone()
    return float(wait["s"]) if wait else 0.0


def segments(conn: Conn, tenant_id: UUID, refs: Sequence[str]) -> dict[str, str]:
    """The known NPS segment of these customers (customer profiles), by customer_ref."""
    if not refs:
        return {}
    rows = conn.execute(
        "SELECT ref, segment FROM customers "
        "WHERE tenant_id = %s AND ref = ANY(%s) AND segment IS NOT NULL",
        (tenant_id, list(refs)),
    ).fetchall()
    return {r["ref"]: r["segment"] for r in rows}


def get_time_zone(conn: Conn, tenant_id: UUID) -> str:
    """The tenant's IANA time zone (quiet hours and digests are in it)."""
    row = conn.execute("SELECT time_zone FROM tenants WHERE id = %s", (tenant_id,)).fetchone()
    return str(row["time_zone"]) if row else "UTC"


def set_time_zone(conn: Conn, tenant_id: UUID, time_zone: str) -> None:
    """Set the tenant's IANA time zone (checked by the caller)."""
    conn.execute("UPDATE tenants SET time_zone = %s WHERE id = %s", (time_zone, tenant_id))


def feedback_texts(conn: Conn, tenant_id: UUID, feedback_ids: Sequence[UUID]) -> dict[str, str]:
    """The stored text (redacted when PII redaction is on) of these items, by id."""
    if not feedback_ids:
        return {}
    rows = conn.execute(
        "SELECT id, text FROM feedback WHERE tenant_id = %s AND id = ANY(%s::uuid[])",
        (tenant_id, list(feedback_ids)),
    ).fetchall()
    return {str(r["id"]): r["text"] for r in rows}


def digest_channels(conn: Conn) -> list[dict[str, Any]]:
    """Every channel with a digest schedule, with its tenant's time zone."""
    return conn.execute(
        """
        SELECT c.id, c.tenant_id, c.digest, c.digest_hour, c.digest_audiences, c.digest_last_at,
               t.time_zone
        FROM notification_channels c JOIN tenants t ON t.id = c.tenant_id
        WHERE c.digest IS NOT NULL AND c.enabled
        """
    ).fetchall()


def claim_digest(conn: Conn, channel_id: UUID, slot: datetime) -> bool:
    """Mark the digest of ``slot`` as queued; False if it already was (another beat run)."""
    cur = conn.execute(
        """
        UPDATE notification_channels SET digest_last_at = %s
        WHERE id = %s AND (digest_last_at IS NULL OR digest_last_at < %s)
        """,
        (slot, channel_id, slot),
    )
    return cur.rowcount == 1


def support_summary(conn: Conn, tenant_id: UUID, oldest: int = 5) -> dict[str, Any]:
    """What support leads read in a digest: open P1/P2, SLA breaches, oldest unanswered."""
    counts = conn.execute(
        """
        SELECT count(*) FILTER (WHERE status <> 'resolved' AND priority = 'p1') AS open_p1,
               count(*) FILTER (WHERE status <> 'resolved' AND priority = 'p2') AS open_p2,
               count(*) FILTER (WHERE status <> 'resolved' AND sla_due_at < now())
                   AS sla_breaches
        FROM complaints WHERE tenant_id = %s AND status <> 'resolved'
        """,
        (tenant_id,),
    ).fetchone()
    rows = conn.execute(
        """
        SELECT id, priority, category, flagged_at FROM complaints
        WHERE tenant_id = %s AND status = 'open' AND first_response_at IS NULL
        ORDER BY flagged_at, id LIMIT %s
        """,
        (tenant_id, oldest),
    ).fetchall()
    assert counts is not None
    return {
        **{k: int(v) for k, v in counts.items()},
        "oldest_unanswered": [
            {
                "complaint_id": str(r["id"]),
                "priority": r["priority"],
                "category": r["category"],
                "flagged_at": r["flagged_at"].isoformat(),
            }
            for r in rows
        ],
    }


def analyst_summary(
    conn: Conn, tenant_id: UUID, now: datetime, days: int, top: int = 5
) -> dict[str, Any]:
    """What CX analysts read in a digest, for the last ``days`` against the ``days`` before.

    Top topics by items in the period, with the previous period's count; mean inferred
    CSAT (1-5 stars) and NPS (promoters minus detractors, in points) by customer segment
    (``unknown`` for items without a scored customer) and over all items; and the
    emerging-topic alerts raised in the period. Items are read as the topic reports read
    them (store.topic_reports.ITEMS: merges resolved, occurred_at before received_at).
    """
    mid = now - timedelta(days=days)
    params = {
        "tenant": tenant_id,
        "start": now - timedelta(days=2 * days),
        "end": now,
        "mid": mid,
        "channels": None,
        "languages": None,
        "top": top,
    }
    topics = conn.execute(
        f"""
        WITH items AS ({ITEMS})
        SELECT i.topic_id, coalesce(t.label, t.auto_label) AS label,
               count(*) FILTER (WHERE i.ts >= %(mid)s) AS current,
               count(*) FILTER (WHERE i.ts < %(mid)s) AS previous
        FROM items i JOIN topics t ON t.tenant_id = %(tenant)s AND t.id = i.topic_id
        WHERE NOT t.is_noise
        GROUP BY 1, 2 HAVING count(*) FILTER (WHERE i.ts >= %(mid)s) > 0
        ORDER BY current DESC, i.topic_id LIMIT %(top)s
        """,
        params,
    ).fetchall()
    segments = conn.execute(
        f"""
        WITH items AS ({ITEMS})
        SELECT coalesce(c.segment, 'unknown') AS segment, i.ts >= %(mid)s AS current,
               grouping(coalesce(c.segment, 'unknown')) = 1 AS total,
               count(*) AS n, avg(i.csat_expected) AS csat,
               100.0 * (count(*) FILTER (WHERE i.nps_class = 'promoter')
                        - count(*) FILTER (WHERE i.nps_class = 'detractor')) / count(*) AS nps
        FROM items i
        LEFT JOIN customers c ON c.tenant_id = %(tenant)s AND c.ref = i.customer_ref
        GROUP BY GROUPING SETS (
            (coalesce(c.segment, 'unknown'), i.ts >= %(mid)s), (i.ts >= %(mid)s))
        """,
        params,
    ).fetchall()
    emerging = conn.execute(
        """
        SELECT a.topic_id, coalesce(t.label, t.auto_label, '#' || a.topic_id) AS label,
               a.kind, a.current, a.baseline_mean
        FROM topic_alerts a
        LEFT JOIN topics t ON t.tenant_id = a.tenant_id AND t.id = a.topic_id
        WHERE a.tenant_id = %(tenant)s AND a.created_at >= %(mid)s AND a.created_at < %(end)s
        ORDER BY a.created_at DESC, a.id LIMIT %(top)s
        """,
        params,
    ).fetchall()
    by_segment: dict[str, dict[str, Any]] = {}
    for row in segments:
        name = "all" if row["total"] else row["segment"]  # the total over every segment
        entry = by_segment.setdefault(name, {"segment": name, "current": None, "previous": None})
        entry["current" if row["current"] else "previous"] = {
            "n": int(row["n"]),
            "csat": round(float(row["csat"]), 2),
            "nps": round(float(row["nps"]), 1),
        }
    return {
        "days": days,
        "top_topics": [dict(r) for r in topics],
        "segments": sorted(
            by_segment.values(), key=lambda e: (e["segment"] == "all", e["segment"])
        ),
        "emerging": [
            {**r, "current": float(r["current"]), "baseline_mean": float(r["baseline_mean"])}
            for r in emerging
        ],
    }


def queue_delivery(conn: Conn, tenant_id: UUID, channel_id: UUID, event_id: UUID) -> None:
    """Queue one event for one channel, outside the routing rules (a channel's digest)."""
    conn.execute(
        "INSERT INTO deliveries (tenant_id, event_id, channel_id) VALUES (%s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        (tenant_id, event_id, channel_id),
    )
