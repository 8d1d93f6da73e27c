"""Celery tasks. Thin: each takes ids, gets the process runtime, and calls plain functions."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task
from celery.signals import worker_process_init

from store import feedback as feedback_store
from workers.analysis import analyze_batch
from workers.celery_app import (
    ANALYZE_TASK,
    DELIVER_TASK,
    RETENTION_TASK,
    SIGNALS_TASK,
    SWEEP_TASK,
)
from workers.delivery import deliver_due
from workers.enqueue import dispatch_waiting, enqueue_analysis, nudge_delivery
from workers.notifications import Notifier
from workers.privacy import run_retention
from workers.runtime import get_runtime
from workers.signals import DropRule, detect_csat_drops
from workers.ssrf import guard_for


@worker_process_init.connect
def _warm_up(**_signal: object) -> None:
    """Load the model and open the pool before the first task, not during it."""
    runtime = get_runtime()
    _ = runtime.db, runtime.pipeline


@shared_task(name=ANALYZE_TASK, acks_late=True)
def analyze(ids: list[str]) -> int:
    """Analyse stored items by id; idempotent, so a redelivered message is harmless."""
    runtime = get_runtime()
    written = analyze_batch(
        runtime.db, runtime.pipeline, [UUID(i) for i in ids], runtime.settings.max_attempts
    )
    if written:
        nudge_delivery(analyze.app)
    # These items freed part of their tenant's share: queue what waits for it.
    dispatch_waiting(
        runtime.db,
        analyze.app,
        runtime.settings.analyze_batch_size,
        runtime.settings.tenant_max_inflight,
    )
    return written


@shared_task(name=SWEEP_TASK, acks_late=True)
def sweep() -> int:
    """Re-enqueue items a lost message or a killed worker left pending or processing."""
    runtime = get_runtime()
    settings = runtime.settings
    with runtime.db.transaction() as conn:
        by_tenant = feedback_store.stale_unfinished(
            conn,
            pending_grace_s=settings.pending_grace_s,
            processing_timeout_s=settings.processing_timeout_s,
            max_attempts=settings.max_attempts,
            limit=10_000,
        )
    # One tenant's items per message, as the API sends them: a poison item of one tenant
    # never shares a batch (and its retries) with another tenant's items.
    for ids in by_tenant.values():
        enqueue_analysis(sweep.app, ids, settings.analyze_batch_size)
    dispatch_waiting(
        runtime.db, sweep.app, settings.analyze_batch_size, settings.tenant_max_inflight
    )
    return sum(len(ids) for ids in by_tenant.values())


@shared_task(name=DELIVER_TASK, acks_late=True)
def deliver() -> int:
    """Send every due delivery: to webhook subscriptions and to notification channels."""
    runtime = get_runtime()
    settings = runtime.settings
    ok, _failed = deliver_due(
        runtime.db,
        timeout_s=settings.delivery_timeout_s,
        max_attempts=settings.delivery_max_attempts,
        backoff_base_s=settings.delivery_backoff_base_s,
        backoff_max_s=settings.delivery_backoff_max_s,
        guard=guard_for(settings.webhook_allow_private, settings.webhook_allowed_networks),
        notifier=Notifier.from_settings(settings),
        concurrency=settings.delivery_concurrency,
        per_target=settings.delivery_per_target,
    )
    return ok


@shared_task(name=SIGNALS_TASK, acks_late=True)
def signals() -> int:
    """Look for segments whose inferred CSAT dropped; emit ``signal.csat_drop`` events."""
    runtime = get_runtime()
    emitted = detect_csat_drops(runtime.db, DropRule())
    if emitted:
        nudge_delivery(signals.app)
    return emitted


@shared_task(name=RETENTION_TASK, acks_late=True)
def retention() -> int:
    """Apply every tenant's retention policy; the runs are what GET /v1/privacy/retention shows."""
    runs = run_retention(get_runtime().db)
    return sum(int(r["counts"].get("feedback", 0)) for r in runs)
