"""Celery tasks for topics: refit (on request and on the beat schedule) and emerging checks."""

from __future__ import annotations

import logging
from uuid import UUID

from celery import shared_task

from store import topics as topics_store
from workers.celery_app import TOPICS_EMERGING_TASK, TOPICS_REFIT_TASK
from workers.runtime import get_runtime
from workers.topics import RefitError, detect_emerging, refit_tenant

log = logging.getLogger(__name__)


@shared_task(name=TOPICS_REFIT_TASK, acks_late=True)
def topics_refit(tenant_id: str | None = None, only_due: bool = False) -> int:
    """Refit one tenant's topics, or (from beat) every tenant with enough items.

    ``only_due``: just the tenants without topics yet or whose corpus has grown
    past ``topics_refit_growth`` times the last fit (the frequent beat entry).

    Returns how many tenants were refitted. A tenant with too few items, or one
    already refitting, is skipped with a log line rather than retried.
    """
    runtime = get_runtime()
    settings = runtime.settings
    if tenant_id is not None:
        tenants = [UUID(tenant_id)]
    else:
        with runtime.db.transaction() as conn:
            tenants = (
                topics_store.tenants_due_refit(
                    conn, settings.topics_min_docs, settings.topics_refit_growth
                )
                if only_due
                else topics_store.tenants_with_analyses(conn, settings.topics_min_docs)
            )
    done = 0
    for tenant in tenants:
        try:
            refit_tenant(runtime.db, tenant, settings)
            done += 1
        except RefitError as exc:
            log.info("topic refit skipped", extra={"tenant_id": str(tenant), "reason": str(exc)})
    return done


@shared_task(name=TOPICS_EMERGING_TASK, acks_late=True)
def topics_emerging() -> int:
    """Check every tenant with topics for emerging ones; return the events emitted."""
    runtime = get_runtime()
    with runtime.db.transaction() as conn:
        tenants = topics_store.tenants_with_topics(conn)
    return sum(detect_emerging(runtime.db, t, runtime.settings) for t in tenants)
