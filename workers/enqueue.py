"""Putting work on the queue. Callers have already committed what the messages refer to."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from uuid import UUID
from weakref import WeakKeyDictionary

from celery import Celery

from store import dispatch
from store.db import Database
from workers.celery_app import ANALYZE_TASK, CUSTOMERS_REFRESH_TASK, DELIVER_TASK

log = logging.getLogger(__name__)

# Publishing must not hang a request when the broker is down: the rows are
# committed and the sweep re-enqueues them, so a short retry is enough.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2}


def enqueue_analysis(app: Celery, ids: Sequence[UUID], batch_size: int) -> bool:
    """Send ``analyze`` messages in batches; False if the broker refused (the sweep will retry)."""
    try:
        for start in range(0, len(ids), batch_size):
            chunk = [str(i) for i in ids[start : start + batch_size]]
            app.send_task(ANALYZE_TASK, args=[chunk], retry=True, retry_policy=_PUBLISH_RETRY)
    except Exception:
        log.warning("could not enqueue analysis; the sweep will pick the items up", exc_info=True)
        return False
    return True


def enqueue_fair(
    db: Database,
    app: Celery,
    tenant_id: UUID,
    ids: Sequence[UUID],
    batch_size: int,
    max_inflight: int,
) -> int:
    """Queue a tenant's new items up to its share of the workers; the rest wait their turn.

    Returns how many were queued now. Waiting items are queued by ``dispatch_waiting``
    as the tenant's earlier items finish (see store.dispatch).
    """
    with db.transaction() as conn:
        claimed = dispatch.claim_share(conn, tenant_id, ids, max_inflight)
    if claimed:
        enqueue_analysis(app, claimed, batch_size)
    return len(claimed)


def dispatch_waiting(db: Database, app: Celery, batch_size: int, max_inflight: int) -> int:
    """Queue waiting items of every tenant with a free share, in batches of one tenant each."""
    # Runs after every batch; lost in a crash, the marks only make items wait to be queued
    # again (a second message for an item is harmless), so the commit need not wait.
    with db.transaction(durable=False) as conn:
        by_tenant = dispatch.claim_waiting(conn, max_inflight)
    # Round-robin over tenants, batch by batch, so that each gets its turn in the queue.
    chunks = {
        tenant: [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
        for tenant, ids in by_tenant.items()
    }
    for turn in range(max((len(c) for c in chunks.values()), default=0)):
        for tenant_chunks in chunks.values():
            if turn < len(tenant_chunks):
                enqueue_analysis(app, tenant_chunks[turn], batch_size)
    return sum(len(ids) for ids in by_tenant.values())


def nudge_delivery(app: Celery) -> None:
    """Ask for a delivery run now rather than at the next beat tick."""
    try:
        app.send_task(DELIVER_TASK, retry=True, retry_policy=_PUBLISH_RETRY)
    except Exception:
        log.warning("could not enqueue delivery; beat will run it", exc_info=True)


def enqueue_topic_refit(app: Celery, tenant_id: UUID) -> bool:
    """Ask a worker to refit a tenant's topics; False if the broker refused."""
    from workers.celery_app import TOPICS_REFIT_TASK

    try:
        app.send_task(
            TOPICS_REFIT_TASK, args=[str(tenant_id)], retry=True, retry_policy=_PUBLISH_RETRY
        )
    except Exception:
        log.warning("could not enqueue a topic refit", exc_info=True)
        return False
    return True


def enqueue_customer_refresh(app: Celery) -> None:
    """Ask for a refresh of the profiles new interactions marked dirty (the beat also runs it)."""
    try:
        app.send_task(CUSTOMERS_REFRESH_TASK, retry=True, retry_policy=_PUBLISH_RETRY)
    except Exception:
        log.warning("could not enqueue a customer refresh; beat will run it", exc_info=True)


# How long a refresh request waits for others to join it (seconds).
REFRESH_COALESCE_S = 0.2


class _CoalescedRefresh:
    """One publish for all the refresh requests of a short window, always after each of them.

    A request finding no publish pending starts one ``REFRESH_COALESCE_S`` later; requests
    meanwhile join it. The pending flag is cleared before publishing, so every request is
    followed by a publish that starts after it, and the refresh it queues sees the rows the
    request committed. A burst of batches costs a broker round trip every 0.2 s, not one
    per batch. A publish still pending when the process stops is covered by the beat.
    """

    def __init__(self, app: Celery) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._pending = False

    def request(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
        timer = threading.Timer(REFRESH_COALESCE_S, self._publish)
        timer.daemon = True
        timer.start()

    def _publish(self) -> None:
        with self._lock:
            self._pending = False
        enqueue_customer_refresh(self._app)


_coalesced: WeakKeyDictionary[Celery, _CoalescedRefresh] = WeakKeyDictionary()
_coalesced_lock = threading.Lock()


def nudge_customer_refresh(app: Celery) -> None:
    """``enqueue_customer_refresh`` shortly, coalesced with concurrent requests; never blocks.

    For the API, where batches arrive concurrently: what a request committed is marked
    dirty already, so the refresh may follow the 202 by a fraction of a second.
    """
    with _coalesced_lock:
        coalesced = _coalesced.get(app)
        if coalesced is None:
            coalesced = _coalesced[app] = _CoalescedRefresh(app)
    coalesced.request()


def enqueue_recategorize(app: Celery, job_id: UUID) -> bool:
    """Ask a worker to run a re-categorisation job; False if the broker refused."""
    from workers.celery_app import RECATEGORIZE_TASK

    try:
        app.send_task(
            RECATEGORIZE_TASK, args=[str(job_id)], retry=True, retry_policy=_PUBLISH_RETRY
        )
    except Exception:
        log.warning("could not enqueue a re-categorisation", exc_info=True)
        return False
    return True
