"""Connectors: their configuration, cursors, run leases and the record of each run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from store.db import Conn

PULL_KINDS = ("imap", "folder")
HELPDESK_KINDS = ("zendesk", "freshdesk")

# Connectors that run on a schedule: the pull kinds, and help desks whose pull is on.
# The same predicate as the partial index connectors_due (migration 0013).
PULLABLE = """(c.kind IN ('imap', 'folder')
    OR (c.kind IN ('zendesk', 'freshdesk') AND c.config->>'pull' = 'true'))"""

# What the API shows: never the secrets column, only the masked hints.
_PUBLIC = """c.id, c.kind, c.name, c.config, c.secret_hints, c.cursor, c.interval_s,
    c.next_run_at, COALESCE(c.running_until > now(), false) AS running, c.created_at"""

_LAST_RUN = """
    (SELECT to_jsonb(r) - 'tenant_id' - 'connector_id'
     FROM connector_runs r WHERE r.connector_id = c.id ORDER BY r.id DESC LIMIT 1) AS last_run,
    (SELECT jsonb_build_object(
        'runs', count(*), 'errors', count(*) FILTER (WHERE r.status = 'error'),
        'fetched', COALESCE(sum(r.fetched), 0), 'accepted', COALESCE(sum(r.accepted), 0),
        'duplicates', COALESCE(sum(r.duplicates), 0), 'rejected', COALESCE(sum(r.rejected), 0))
     FROM connector_runs r WHERE r.connector_id = c.id) AS totals,
    (SELECT jsonb_build_object(
        'pending', count(*) FILTER (WHERE t.state = 'pending'),
        'created', count(*) FILTER (WHERE t.state = 'created'),
        'dead', count(*) FILTER (WHERE t.state = 'dead'))
     FROM helpdesk_tickets t WHERE t.connector_id = c.id) AS tickets"""


def create_connector(
    conn: Conn,
    tenant_id: UUID,
    kind: str,
    name: str,
    config: dict[str, Any],
    secrets_token: str | None,
    secret_hints: dict[str, str],
    interval_s: int,
) -> dict[str, Any]:
    """Insert a connector, due at once; raises UniqueViolation if the name is taken."""
    row = conn.execute(
        """
        INSERT INTO connectors (tenant_id, kind, name, config, secrets, secret_hints, interval_s)
        VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id
        """,
        (tenant_id, kind, name, Jsonb(config), secrets_token, Jsonb(secret_hints), interval_s),
    ).fetchone()
    assert row is not None
    found = get_connector(conn, tenant_id, row["id"])
    assert found is not None
    return found


def list_connectors(conn: Conn, tenant_id: UUID) -> list[dict[str, Any]]:
    """The tenant's connectors, oldest first, each with its last run and totals."""
    return conn.execute(
        f"SELECT {_PUBLIC}, {_LAST_RUN} FROM connectors c WHERE c.tenant_id = %s "
        "ORDER BY c.created_at, c.id",
        (tenant_id,),
    ).fetchall()


def get_connector(conn: Conn, tenant_id: UUID, connector_id: UUID) -> dict[str, Any] | None:
    """One connector of the tenant as the API shows it, or None."""
    return conn.execute(
        f"SELECT {_PUBLIC}, {_LAST_RUN} FROM connectors c WHERE c.tenant_id = %s AND c.id = %s",
        (tenant_id, connector_id),
    ).fetchone()


def delete_connector(conn: Conn, tenant_id: UUID, connector_id: UUID) -> bool:
    """Remove a connector with its runs and ticket links; False if it was not there."""
    cur = conn.execute(
        "DELETE FROM connectors WHERE tenant_id = %s AND id = %s", (tenant_id, connector_id)
    )
    return cur.rowcount == 1


@dataclass
class Claimed:
    """A connector leased for one run (or read to check a webhook), credentials included."""

    id: UUID
    tenant_id: UUID
    tenant_name: str
    kind: str
    name: str
    config: dict[str, Any]
    secrets: str | None
    cursor: dict[str, Any] = field(default_factory=dict)


_CLAIMED = """c.id, c.tenant_id, t.name AS tenant_name, c.kind, c.name, c.config, c.secrets,
    c.cursor"""


def claim_due(conn: Conn, limit: int, lease_s: float) -> list[Claimed]:
    """Lease up to ``limit`` due pull connectors not running now; their next run is scheduled.

    The lease (running_until) keeps a second worker, and run-now, off a connector while it
    runs; a worker that dies mid-run lets the lease run out and the next claim takes it.
    """
    rows = conn.execute(
        f"""
        WITH due AS (
            SELECT c.id FROM connectors c
            WHERE {PULLABLE} AND c.next_run_at <= now()
              AND (running_until IS NULL OR running_until < now())
            ORDER BY next_run_at LIMIT %s FOR UPDATE SKIP LOCKED)
        UPDATE connectors c
        SET running_until = now() + make_interval(secs => %s),
            next_run_at = now() + make_interval(secs => c.interval_s)
        FROM due, tenants t
        WHERE c.id = due.id AND t.id = c.tenant_id
        RETURNING {_CLAIMED}
        """,
        (limit, lease_s),
    ).fetchall()
    return [Claimed(**r) for r in rows]


def claim_one(conn: Conn, tenant_id: UUID, connector_id: UUID, lease_s: float) -> Claimed | None:
    """Lease one pull connector of the tenant now (run-now); None if it is running already."""
    row = conn.execute(
        f"""
        UPDATE connectors c
        SET running_until = now() + make_interval(secs => %s),
            next_run_at = now() + make_interval(secs => c.interval_s)
        FROM tenants t
        WHERE c.tenant_id = %s AND c.id = %s AND t.id = c.tenant_id
          AND {PULLABLE}
          AND (c.running_until IS NULL OR c.running_until < now())
        RETURNING {_CLAIMED}
        """,
        (lease_s, tenant_id, connector_id),
    ).fetchone()
    return None if row is None else Claimed(**row)


def get_helpdesk(conn: Conn, connector_id: UUID) -> Claimed | None:
    """A help-desk connector by id alone, credentials included: its webhooks carry no API key."""
    row = conn.execute(
        f"""
        SELECT {_CLAIMED} FROM connectors c JOIN tenants t ON t.id = c.tenant_id
        WHERE c.id = %s AND c.kind IN ('zendesk', 'freshdesk')
        """,
        (connector_id,),
    ).fetchone()
    return None if row is None else Claimed(**row)


def count_with_secrets(conn: Conn) -> int:
    """How many connectors (of any tenant) hold encrypted credentials."""
    row = conn.execute("SELECT count(*) AS n FROM connectors WHERE secrets IS NOT NULL").fetchone()
    return int(row["n"]) if row else 0


def save_cursor(conn: Conn, connector_id: UUID, cursor: dict[str, Any]) -> None:
    """Store where the next pull starts."""
    conn.execute("UPDATE connectors SET cursor = %s WHERE id = %s", (Jsonb(cursor), connector_id))


# A run keeps the reasons of its first rejections only: a broken export could hold millions.
MAX_REJECTIONS = 20


@dataclass
class RunCounts:
    """What one run did, and why its first MAX_REJECTIONS rejected items were refused."""

    fetched: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[dict[str, str]] = field(default_factory=list)

    def reject(self, where: str, reason: str) -> None:
        """Count one rejected item; ``where`` names it (a file and line, a message, an id)."""
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTIONS:
            self.rejections.append({"item": where[:200], "reason": reason[:300]})


def finish_run(
    conn: Conn,
    connector: Claimed,
    started_at: datetime,
    counts: RunCounts,
    error: str | None,
) -> dict[str, Any] | None:
    """Record a run and release the connector's lease; returns the run as the API shows it.

    None when the connector was deleted while it ran (its runs went with it).
    """
    conn.execute("UPDATE connectors SET running_until = NULL WHERE id = %s", (connector.id,))
    return conn.execute(
        """
        INSERT INTO connector_runs (tenant_id, connector_id, started_at, status, fetched,
                                    accepted, duplicates, rejected, rejections, error)
        SELECT %s, c.id, %s, %s, %s, %s, %s, %s, %s, %s FROM connectors c WHERE c.id = %s
        RETURNING id, started_at, finished_at, status, fetched, accepted, duplicates,
                  rejected, rejections, error
        """,
        (
            connector.tenant_id,
            started_at,
            "ok" if error is None else "error",
            counts.fetched,
            counts.accepted,
            counts.duplicates,
            counts.rejected,
            Jsonb(counts.rejections),
            error,
            connector.id,
        ),
    ).fetchone()
