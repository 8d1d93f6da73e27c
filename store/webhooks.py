"""Webhook subscriptions and the deliveries of events to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from store.db import Conn

SUBSCRIPTION_COLUMNS = """id, url, event_types, min_priority, created_at,
    CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END
        AS previous_secret_expires_at"""


def create_subscription(
    conn: Conn,
    tenant_id: UUID,
    url: str,
    event_types: Sequence[str],
    secret: str,
    min_priority: str | None = None,
) -> dict[str, Any]:
    """Subscribe a URL to event types ('*' for all), optionally only from a priority up."""
    row = conn.execute(
        f"""
        INSERT INTO webhook_subscriptions (tenant_id, url, event_types, secret, min_priority)
        VALUES (%s, %s, %s, %s, %s) RETURNING {SUBSCRIPTION_COLUMNS}
        """,
        (tenant_id, url, list(event_types), secret, min_priority),
    ).fetchone()
    assert row is not None
    return row


def list_subscriptions(conn: Conn, tenant_id: UUID) -> list[dict[str, Any]]:
    """The tenant's subscriptions, oldest first (secrets are never returned)."""
    return conn.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE tenant_id = %s "
        "ORDER BY created_at, id",
        (tenant_id,),
    ).fetchall()


def delete_subscription(conn: Conn, tenant_id: UUID, subscription_id: UUID) -> bool:
    """Remove a subscription and its pending deliveries; False if it was not there."""
    cur = conn.execute(
        "DELETE FROM webhook_subscriptions WHERE tenant_id = %s AND id = %s",
        (tenant_id, subscription_id),
    )
    return cur.rowcount == 1


@dataclass(frozen=True)
class DueDelivery:
    """A delivery claimed for one attempt, with everything needed to send it."""

    id: UUID
    # Exactly one of the two: a webhook subscription, or a notification channel (for
    # which url and secret are empty: the channel's renderer and sender have their own).
    subscription_id: UUID | None
    channel_id: UUID | None
    attempts: int
    url: str
    secret: str
    previous_secret: str | None
    event_id: UUID
    event_type: str
    event_seq: int
    tenant_id: UUID
    created_at: datetime
    data: dict[str, Any]


# What a claim returns of each delivery, its target and its event (s: the subscription,
# absent for a channel's delivery; e: the event).
DUE_COLUMNS = """d.id, d.subscription_id, d.channel_id, d.attempts,
    COALESCE(s.url, '') AS url, COALESCE(s.secret, '') AS secret,
    CASE WHEN s.previous_secret_expires_at > now() THEN s.previous_secret END AS previous_secret,
    e.id AS event_id, e.type AS event_type, e.seq AS event_seq, e.tenant_id, e.created_at,
    e.payload AS data"""


def claim_due_deliveries(
    conn: Conn, limit: int, per_tenant: int, lease_s: float
) -> list[DueDelivery]:
    """Claim due deliveries, at most ``per_tenant`` of each tenant, oldest due first.

    Pushing next_attempt_at out by a lease keeps other workers off them; if the claiming
    worker dies, the lease runs out and the delivery is due again. The result is ordered
    round-robin across tenants (each tenant's first, then each one's second...), so a
    tenant with a slow receiver does not go ahead of everyone else's first delivery.
    """
    rows = conn.execute(
        f"""
        WITH due AS (
            SELECT id, tenant_id, next_attempt_at FROM deliveries
            WHERE status = 'pending' AND next_attempt_at <= now()
            ORDER BY next_attempt_at LIMIT %(scan)s FOR UPDATE SKIP LOCKED),
        ranked AS (
            SELECT id, row_number() OVER (PARTITION BY tenant_id ORDER BY next_attempt_at)
                       AS turn,
                   next_attempt_at
            FROM due),
        fair AS (
            SELECT id, turn FROM ranked WHERE turn <= %(per_tenant)s
            ORDER BY turn, next_attempt_at LIMIT %(limit)s),
        target AS (
            SELECT fair.id, fair.turn, dd.event_id, dd.subscription_id
            FROM fair JOIN deliveries dd ON dd.id = fair.id)
        UPDATE deliveries d
        SET next_attempt_at = now() + make_interval(secs => %(lease)s),
            attempts = d.attempts + 1
        FROM target t JOIN events e ON e.id = t.event_id
             LEFT JOIN webhook_subscriptions s ON s.id = t.subscription_id
        WHERE d.id = t.id
        RETURNING {DUE_COLUMNS}, t.turn
        """,
        # Rows are locked from a wider scan than the claim, so that the oldest tenant's
        # backlog alone does not fill it; the unclaimed ones are unlocked at commit.
        {"scan": limit * 20, "per_tenant": per_tenant, "limit": limit, "lease": lease_s},
    ).fetchall()
    rows.sort(key=lambda r: r.pop("turn"))
    return [DueDelivery(**r) for r in rows]


def release_untried(conn: Conn, delivery_ids: Sequence[UUID], delay_s: float = 0.0) -> None:
    """Give claimed deliveries back untried, due after ``delay_s``; no attempt is counted."""
    conn.execute(
        """
        UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => %s),
               attempts = attempts - 1
        WHERE id = ANY(%s) AND status = 'pending'
        """,
        (delay_s, list(delivery_ids)),
    )


def _log_attempt(
    conn: Conn, delivery_id: UUID, status_code: int | None, error: str | None, duration_ms: float
) -> None:
    conn.execute(
        """
        INSERT INTO delivery_attempts (delivery_id, status_code, error, duration_ms)
        VALUES (%s, %s, %s, %s)
        """,
        (delivery_id, status_code, error[:2000] if error else None, duration_ms),
    )


def record_successes(conn: Conn, outcomes: Sequence[tuple[UUID, int, float]]) -> None:
    """The receivers answered 2xx: (delivery id, status code, duration in ms) each.

    Two statements for the lot, not two per delivery: a claim's outcomes are written
    together, and a round trip per row cost as much as the send.
    """
    if not outcomes:
        return
    ids = [o[0] for o in outcomes]
    codes = [o[1] for o in outcomes]
    durations = [o[2] for o in outcomes]
    conn.execute(
        """
        INSERT INTO delivery_attempts (delivery_id, status_code, error, duration_ms)
        SELECT d, c, NULL, ms FROM unnest(%s::uuid[], %s::int[], %s::float8[]) AS o(d, c, ms)
        """,
        (ids, codes, durations),
    )
    conn.execute(
        """
        UPDATE deliveries SET status = 'succeeded', last_status_code = o.c, last_error = NULL,
               finished_at = now()
        FROM unnest(%s::uuid[], %s::int[]) AS o(d, c)
        WHERE deliveries.id = o.d
        """,
        (ids, codes),
    )


def record_failure(
    conn: Conn,
    delivery_id: UUID,
    status_code: int | None,
    error: str,
    retry_in_s: float | None,
    duration_ms: float | None = None,
) -> None:
    """Schedule the next attempt, or dead-letter the delivery when ``retry_in_s`` is None."""
    if duration_ms is not None:
        _log_attempt(conn, delivery_id, status_code, error, duration_ms)
    conn.execute(
        """
        UPDATE deliveries SET last_status_code = %s, last_error = %s,
            status = CASE WHEN %s::float8 IS NULL THEN 'dead' ELSE 'pending' END,
            finished_at = CASE WHEN %s::float8 IS NULL THEN now() END,
            next_attempt_at = CASE WHEN %s::float8 IS NULL THEN next_attempt_at
                                   ELSE now() + make_interval(secs => %s::float8) END
        WHERE id = %s
        """,
        (status_code, error[:2000], retry_in_s, retry_in_s, retry_in_s, retry_in_s, delivery_id),
    )


def delivery_counts(conn: Conn) -> dict[str, int]:
    """Deliveries per status over all tenants, for metrics."""
    rows = conn.execute("SELECT status, count(*) AS n FROM deliveries GROUP BY status").fetchall()
    return {r["status"]: r["n"] for r in rows}


def failed_attempts_total(conn: Conn) -> int:
    """Attempts that did not succeed: every attempt beyond the last successful one."""
    row = conn.execute(
        """
        SELECT COALESCE(sum(attempts - CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END), 0)
               AS n
        FROM deliveries
        """
    ).fetchone()
    return int(row["n"]) if row else 0


def get_subscription(conn: Conn, tenant_id: UUID, subscription_id: UUID) -> dict[str, Any] | None:
    """One subscription of the tenant (without its secrets)."""
    return conn.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions "
        "WHERE tenant_id = %s AND id = %s",
        (tenant_id, subscription_id),
    ).fetchone()


def rotate_secret(
    conn: Conn, tenant_id: UUID, subscription_id: UUID, new_secret: str, grace_s: float
) -> dict[str, Any] | None:
    """Make ``new_secret`` current; the old one keeps signing too until the grace period ends."""
    return conn.execute(
        f"""
        UPDATE webhook_subscriptions
        SET previous_secret = secret, secret = %s,
            previous_secret_expires_at = now() + make_interval(secs => %s)
        WHERE tenant_id = %s AND id = %s
        RETURNING {SUBSCRIPTION_COLUMNS}
        """,
        (new_secret, grace_s, tenant_id, subscription_id),
    ).fetchone()


DELIVERY_COLUMNS = """d.id, d.subscription_id, d.channel_id, d.event_id, e.type AS event_type,
    e.seq AS event_seq,
    d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.created_at,
    d.finished_at"""


def list_deliveries(
    conn: Conn,
    tenant_id: UUID,
    subscription_id: UUID | None,
    status: str | None,
    limit: int,
    before: tuple[datetime, UUID] | None = None,
    channel_id: UUID | None = None,
) -> list[dict[str, Any]]:
    """The delivery log of a subscription (or of a notification channel), newest first."""
    return conn.execute(
        f"""
        SELECT {DELIVERY_COLUMNS}
        FROM deliveries d JOIN events e ON e.id = d.event_id
        WHERE d.tenant_id = %(tenant)s
          AND (d.subscription_id = %(sub)s OR d.channel_id = %(channel)s)
          AND (%(status)s::text IS NULL OR d.status = %(status)s::text)
          AND (%(at)s::timestamptz IS NULL OR (d.created_at, d.id) < (%(at)s, %(id)s::uuid))
        ORDER BY d.created_at DESC, d.id DESC
        LIMIT %(limit)s
        """,
        {
            "tenant": tenant_id,
            "sub": subscription_id,
            "channel": channel_id,
            "status": status,
            "at": before[0] if before else None,
            "id": before[1] if before else None,
            "limit": limit,
        },
    ).fetchall()


def get_delivery(conn: Conn, tenant_id: UUID, delivery_id: UUID) -> dict[str, Any] | None:
    """One delivery with every attempt made."""
    row = conn.execute(
        f"""
        SELECT {DELIVERY_COLUMNS}
        FROM deliveries d JOIN events e ON e.id = d.event_id
        WHERE d.tenant_id = %s AND d.id = %s
        """,
        (tenant_id, delivery_id),
    ).fetchone()
    if row is None:
        return None
    row["attempt_log"] = conn.execute(
        """
        SELECT attempted_at, status_code, error, duration_ms FROM delivery_attempts
        WHERE delivery_id = %s ORDER BY id
        """,
        (delivery_id,),
    ).fetchall()
    return row


def replay_delivery(conn: Conn, tenant_id: UUID, delivery_id: UUID) -> str | None:
    """Queue a finished (dead or succeeded) delivery again; return its status before.

    Returns None when there is no such delivery; a pending one is left alone.
    """
    row = conn.execute(
        "SELECT status FROM deliveries WHERE tenant_id = %s AND id = %s FOR UPDATE",
        (tenant_id, delivery_id),
    ).fetchone()
    if row is None:
        return None
    if row["status"] != "pending":
        conn.execute(
            """
            UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(),
                   finished_at = NULL
            WHERE id = %s
            """,
            (delivery_id,),
        )
    return str(row["status"])


def replay_since(
    conn: Conn, tenant_id: UUID, subscription_id: UUID, after_seq: int, limit: int
) -> tuple[int, int | None]:
    """Queue again every event with ``seq > after_seq`` that the subscription matches.

    Events never delivered to it (it did not exist yet) get a new delivery; delivered or
    dead ones are reset to pending. Returns (how many, the last seq covered) so a caller
    can continue from there when ``limit`` cut the run short.
    """
    rows = conn.execute(
        """
        WITH picked AS (
            SELECT e.id, e.seq FROM events e JOIN webhook_subscriptions s ON s.id = %(sub)s
            WHERE e.tenant_id = %(tenant)s AND s.tenant_id = %(tenant)s AND e.seq > %(after)s
              AND (e.type = ANY(s.event_types) OR '*' = ANY(s.event_types))
              AND (s.min_priority IS NULL OR e.payload->>'priority' IS NULL
                   OR e.payload->>'priority' <= s.min_priority)
            ORDER BY e.seq LIMIT %(limit)s)
        INSERT INTO deliveries (tenant_id, event_id, subscription_id)
        SELECT %(tenant)s, picked.id, %(sub)s FROM picked
        ON CONFLICT (event_id, subscription_id) DO UPDATE
            SET status = 'pending', attempts = 0, next_attempt_at = now(), finished_at = NULL
        RETURNING event_id
        """,
        {"sub": subscription_id, "tenant": tenant_id, "after": after_seq, "limit": limit},
    ).fetchall()
    if not rows:
        return 0, None
    last = conn.execute(
        "SELECT max(seq) AS seq FROM events WHERE id = ANY(%s)", ([r["event_id"] for r in rows],)
    ).fetchone()
    return len(rows), (int(last["seq"]) if last else None)
