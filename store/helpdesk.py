"""Help-desk tickets of complaints: queued once per complaint, claimed, created, synced back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from store import complaints as complaints_store
from store.db import Conn


def queue_matching(conn: Conn) -> int:
    """Queue a ticket for every complaint that matches a help-desk connector's rule.

    The rule: flagged since the connector was created, not resolved, at least the
    connector's ``min_priority`` (default p2), and in one of its ``categories`` (any when
    none is listed). A complaint gets one row at most, whichever connector matches first
    (the oldest): the primary key on complaint_id is what makes a second ticket impossible.
    """
    cur = conn.execute(
        """
        INSERT INTO helpdesk_tickets (complaint_id, tenant_id, connector_id)
        SELECT DISTINCT ON (c.id) c.id, c.tenant_id, h.id
        FROM connectors h JOIN complaints c ON c.tenant_id = h.tenant_id
        WHERE h.kind IN ('zendesk', 'freshdesk')
          AND c.flagged_at >= h.created_at
          AND c.status <> 'resolved'
          AND c.priority <= COALESCE(h.config->>'min_priority', 'p2')
          AND (jsonb_array_length(COALESCE(h.config->'categories', '[]'::jsonb)) = 0
               OR h.config->'categories' ? c.category)
          AND NOT EXISTS (SELECT 1 FROM helpdesk_tickets t WHERE t.complaint_id = c.id)
        ORDER BY c.id, h.created_at, h.id
        ON CONFLICT (complaint_id) DO NOTHING
        """
    )
    return cur.rowcount


@dataclass(frozen=True)
class DueTicket:
    """A ticket to create, claimed for one attempt."""

    complaint_id: UUID
    tenant_id: UUID
    connector_id: UUID
    attempts: int


def claim_due(conn: Conn, limit: int, lease_s: float) -> list[DueTicket]:
    """Claim pending tickets that are due; the lease keeps other workers off them.

    A worker that dies mid-attempt lets the lease run out; the next attempt then looks the
    ticket up in the help desk before creating one (see workers.helpdesk).
    """
    rows = conn.execute(
        """
        WITH due AS (
            SELECT complaint_id FROM helpdesk_tickets
            WHERE state = 'pending' AND next_attempt_at <= now()
            ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED)
        UPDATE helpdesk_tickets t
        SET next_attempt_at = now() + make_interval(secs => %s),
            attempts = t.attempts + 1, updated_at = now()
        FROM due WHERE t.complaint_id = due.complaint_id
        RETURNING t.complaint_id, t.tenant_id, t.connector_id, t.attempts
        """,
        (limit, lease_s),
    ).fetchall()
    return [DueTicket(**r) for r in rows]


def record_created(conn: Conn, ticket: DueTicket, vendor: str, ticket_id: str) -> None:
    """The help desk has the ticket: store its id, and note it in the complaint's history."""
    conn.execute(
        """
        UPDATE helpdesk_tickets
        SET state = 'created', ticket_id = %s, ticket_status = 'open', last_error = NULL,
            updated_at = now()
        WHERE complaint_id = %s
        """,
        (ticket_id, ticket.complaint_id),
    )
    complaints_store.apply_change(
        conn,
        ticket.tenant_id,
        ticket.complaint_id,
        "ticket",
        {},
        vendor,
        None,
        {"connector_id": str(ticket.connector_id), "ticket_id": ticket_id, "vendor": vendor},
    )


def record_failure(conn: Conn, complaint_id: UUID, error: str, retry_s: float | None) -> None:
    """An attempt failed: due again after ``retry_s``, or dead when None (no more attempts)."""
    conn.execute(
        """
        UPDATE helpdesk_tickets
        SET last_error = %s, updated_at = now(),
            state = CASE WHEN %s::float8 IS NULL THEN 'dead' ELSE state END,
            next_attempt_at = now() + make_interval(secs => COALESCE(%s::float8, 0))
        WHERE complaint_id = %s
        """,
        (error[:500], retry_s, retry_s, complaint_id),
    )


def find_by_ticket(conn: Conn, connector_id: UUID, ticket_id: str) -> dict[str, Any] | None:
    """The complaint a help-desk ticket was made for, or None."""
    return conn.execute(
        """
        SELECT complaint_id, tenant_id, ticket_status FROM helpdesk_tickets
        WHERE connector_id = %s AND ticket_id = %s
        """,
        (connector_id, ticket_id),
    ).fetchone()


def set_ticket_status(conn: Conn, complaint_id: UUID, status: str) -> None:
    """Remember the ticket's status as the help desk last reported it."""
    conn.execute(
        "UPDATE helpdesk_tickets SET ticket_status = %s, updated_at = now() "
        "WHERE complaint_id = %s",
        (status[:50], complaint_id),
    )


def list_tickets(conn: Conn, tenant_id: UUID, connector_id: UUID) -> list[dict[str, Any]]:
    """A connector's tickets, newest first (at most 500)."""
    return conn.execute(
        """
        SELECT complaint_id, state, ticket_id, ticket_status, attempts, last_error,
               created_at, updated_at
        FROM helpdesk_tickets WHERE tenant_id = %s AND connector_id = %s
        ORDER BY created_at DESC, complaint_id LIMIT 500
        """,
        (tenant_id, connector_id),
    ).fetchall()


def own_tickets(
    conn: Conn, connector_id: UUID, ticket_ids: list[str], complaint_keys: list[str]
) -> set[str]:
    """The ticket ids and complaint keys, of those given, of tickets this connector created.

    A ticket is ours when its id is recorded, or when it carries one of our complaint keys
    (``complaint_keys``: Zendesk's external_id), which covers a ticket created by an
    attempt that died before recording its id.
    """
    rows = conn.execute(
        """
        SELECT ticket_id, complaint_id::text AS complaint_key FROM helpdesk_tickets
        WHERE connector_id = %s AND (ticket_id = ANY(%s) OR complaint_id::text = ANY(%s))
        """,
        (connector_id, ticket_ids, complaint_keys),
    ).fetchall()
    return {r["ticket_id"] for r in rows if r["ticket_id"]} | {r["complaint_key"] for r in rows}
