"""Celery tasks of connectors: pull the due ones, create the due help-desk tickets."""

from __future__ import annotations

import logging

import psycopg
from celery import shared_task
from celery.signals import worker_ready
from psycopg.rows import dict_row

from langnghe.config import Settings
from langnghe.secrets import SecretBox, SecretKeyMissing
from store import connectors as connectors_store
from workers.celery_app import CONNECTORS_PULL_TASK, HELPDESK_TICKETS_TASK
from workers.connectors import PullContext, run_due
from workers.helpdesk import send_due_tickets
from workers.runtime import get_runtime

log = logging.getLogger(__name__)


def secret_key_problem(settings: Settings) -> str | None:
    """Why this process cannot open the stored connector credentials, or None if it can.

    None too when no connector holds credentials: the key is needed only then.
    """
    if not settings.database_url:
        return None
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        held = connectors_store.count_with_secrets(conn)
    if not held:
        return None
    try:
        SecretBox(settings.secret_key)
    except (SecretKeyMissing, ValueError) as exc:
        return f"{exc}; {held} connector(s) hold credentials and cannot run"
    return None


@worker_ready.connect
def _check_secret_key(**_signal: object) -> None:
    """Say it once at start-up, not only in every run's error, when the key is missing."""
    try:
        problem = secret_key_problem(Settings())
    except psycopg.Error:
        return  # the database is not up yet: the runs will say what is wrong
    if problem:
        log.error(problem)


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
