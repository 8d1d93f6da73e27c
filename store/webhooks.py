"""Webhook subscriptions and the deliveries of events to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from store.db import Conn

SUBSCRIPTION_COLUMNS = "id, url, event_types, created_at"


def create_subscription(
    conn: Conn, tenant_id: UUID, url: str, event_types: Sequence[str], secret: str
) -> dict[str, Any]:
    """Subscribe a URL to event types ('*' for all)."""
    row = conn.execute(
        f"""
        INSERT INTO webhook_subscriptions (tenant_id, url, event_types, secret)
        VALUES (%s, %s, %s, %s) RETURNING {SUBSCRIPTION_COLUMNS}
        """,
        (tenant_id, url, list(event_types), secret),
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
    attempts: int
    url: str
    secret: str
    event_id: UUID
    event_type: str
    event_seq: int
    tenant_id: UUID
    created_at: datetime
    data: dict[str, Any]


def claim_due_deliveries(conn: Conn, limit: int, lease_s: float) -> list[DueDelivery]:
    """Claim due deliveries; pushing next_attempt_at out by a lease keeps others off them.

    If the claiming worker dies, the lease runs out and the delivery is due again.
    """
    rows = conn.execute(
        """
        WITH due AS (
            SELECT id FROM deliveries
            WHERE status = 'pending' AND next_attempt_at <= now()
            ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED)
        UPDATE deliveries d
        SET next_attempt_at = now() + make_interval(secs => %s), attempts = d.attempts + 1
        FROM due, webhook_subscriptions s, events e
        WHERE d.id = due.id AND s.id = d.subscription_id AND e.id = d.event_id
        RETURNING d.id, d.attempts, s.url, s.secret, e.id AS event_id, e.type AS event_type,
                  e.seq AS event_seq, e.tenant_id, e.created_at, e.payload AS data
        """,
        (limit, lease_s),
    ).fetchall()
    return [DueDelivery(**r) for r in rows]


def record_success(conn: Conn, delivery_id: UUID, status_code: int) -> None:
    """The receiver answered 2xx."""
    conn.execute(
        """
        UPDATE deliveries SET status = 'succeeded', last_status_code = %s, last_error = NULL,
               finished_at = now()
        WHERE id = %s
        """,
        (status_code, delivery_id),
    )


def record_failure(
    conn: Conn,
    delivery_id: UUID,
    status_code: int | None,
    error: str,
    retry_in_s: float | None,
) -> None:
    """Schedule the next attempt, or dead-letter the delivery when ``retry_in_s`` is None."""
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
