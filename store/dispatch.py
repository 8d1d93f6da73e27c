"""Fair dispatch of analysis: each tenant gets a share of the workers, not a place in one line.

An item is *queued* once a message was sent for it (``queued_at``) and *waiting*
while its tenant already has ``max_inflight`` items queued or being analysed. The
broker's queue is first come, first served, so without this a tenant that posts a
million items puts every other tenant behind them; with it, the queue never holds
more than ``max_inflight`` items of any one tenant, and as items finish each tenant's
waiting items are queued in turn.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

from store.db import Conn

# One dispatcher at a time: two would both see the same free share and overshoot it.
_DISPATCH_LOCK = 0x6C6E6764  # "lngd"


def _inflight(conn: Conn, tenant_id: UUID) -> int:
    row = conn.execute(
        """
        SELECT count(*) AS n FROM feedback
        WHERE tenant_id = %s AND status IN ('pending', 'processing') AND queued_at IS NOT NULL
        """,
        (tenant_id,),
    ).fetchone()
    return int(row["n"]) if row else 0


def claim_share(conn: Conn, tenant_id: UUID, ids: Sequence[UUID], max_inflight: int) -> list[UUID]:
    """Mark as queued as many of these new items as the tenant's free share allows.

    The rest stay waiting for ``claim_waiting``. Ids keep their order.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DISPATCH_LOCK,))
    free = max(0, max_inflight - _inflight(conn, tenant_id))
    take = list(ids[:free])
    if not take:
        return []
    rows = conn.execute(
        """
        UPDATE feedback SET queued_at = now()
        WHERE id = ANY(%s) AND tenant_id = %s AND queued_at IS NULL AND status = 'pending'
        RETURNING id
        """,
        (take, tenant_id),
    ).fetchall()
    claimed = {r["id"] for r in rows}
    return [i for i in take if i in claimed]


def claim_waiting(conn: Conn, max_inflight: int) -> dict[UUID, list[UUID]]:
    """Queue every tenant's oldest waiting items, up to its free share; ids by tenant."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DISPATCH_LOCK,))
    rows = conn.execute(
        """
        WITH share AS (
            SELECT t.id AS tenant_id, %(cap)s - (
                SELECT count(*) FROM feedback f
                WHERE f.tenant_id = t.id AND f.status IN ('pending', 'processing')
                  AND f.queued_at IS NOT NULL) AS free
            FROM tenants t
            WHERE EXISTS (SELECT 1 FROM feedback w WHERE w.tenant_id = t.id
                          AND w.status = 'pending' AND w.queued_at IS NULL)),
        picked AS (
            SELECT w.id FROM share s CROSS JOIN LATERAL (
                SELECT id FROM feedback
                WHERE tenant_id = s.tenant_id AND status = 'pending' AND queued_at IS NULL
                ORDER BY received_at, id LIMIT GREATEST(s.free, 0)) w)
        UPDATE feedback f SET queued_at = now() FROM picked p WHERE f.id = p.id
        RETURNING f.id, f.tenant_id, f.received_at
        """,
        {"cap": max_inflight},
    ).fetchall()
    by_tenant: dict[UUID, list[UUID]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["received_at"], r["id"])):
        by_tenant[r["tenant_id"]].append(r["id"])
    return dict(by_tenant)


def waiting_count(conn: Conn, tenant_id: UUID) -> int:
    """How many of the tenant's items wait for their share of the workers."""
    row = conn.execute(
        """
        SELECT count(*) AS n FROM feedback
        WHERE tenant_id = %s AND status = 'pending' AND queued_at IS NULL
        """,
        (tenant_id,),
    ).fetchone()
    return int(row["n"]) if row else 0
