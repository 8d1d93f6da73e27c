"""Celery task of notification channels: queue the scheduled digests that are due."""

from __future__ import annotations

from celery import shared_task

from workers.celery_app import DIGESTS_TASK
from workers.enqueue import nudge_delivery
from workers.notifications import queue_digests
from workers.runtime import get_runtime


@shared_task(name=DIGESTS_TASK, acks_late=True)
def digests() -> int:
    """Queue every due digest; deliver them at once rather than at the next beat tick."""
    queued = queue_digests(get_runtime().db)
    if queued:
        nudge_delivery(digests.app)
    return queued
