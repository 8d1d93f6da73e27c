"""Putting work on the queue. Callers have already committed what the messages refer to."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from uuid import UUID

from celery import Celery

from workers.celery_app import ANALYZE_TASK, DELIVER_TASK

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
