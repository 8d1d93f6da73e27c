"""Celery tasks of connectors: pull the due ones, create the due help-desk tickets."""

from __future__ import annotations

from celery import shared_task

from workers.celery_app import CONNECTORS_PULL_TASK, HELPDESK_TICKETS_TASK
from workers.connectors import PullContext, run_due
from workers.helpdesk import send_due_tickets
from workers.runtime import get_runtime


@shared_task(name=CONNECTORS_PULL_TASK, acks_late=True)
def pull() -> int:
    """Run every due pull connector; a failing one is recorded and the others still run."""
    runtime = get_runtime()
    runs = run_due(PullContext(runtime.db, runtime.settings, pull.app))
    return sum(r["accepted"] for r in runs)


@shared_task(name=HELPDESK_TICKETS_TASK, acks_late=True)
def tickets() -> int:
    """Queue tickets for complaints matching a help-desk rule and create the due ones."""
    runtime = get_runtime()
    created, _failed = send_due_tickets(runtime.db, runtime.settings)
    return created
