"""Celery tasks for tenant models: re-categorising history, refitting heads on corrections."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task

from workers.celery_app import RECATEGORIZE_TASK, TENANT_TRAIN_TASK
from workers.runtime import get_runtime
from workers.taxonomy import recategorize_job
from workers.tenant_training import train_due_tenants


@shared_task(name=RECATEGORIZE_TASK, acks_late=True)
def recategorize(job_id: str) -> int:
    """Run a queued re-categorisation job; returns how many analyses changed category."""
    runtime = get_runtime()
    job = recategorize_job(runtime.db, runtime.pipeline, UUID(job_id))
    return int(job["changed"]) if job else 0


@shared_task(name=TENANT_TRAIN_TASK, acks_late=True)
def tenant_train() -> int:
    """Refit the heads of every tenant with enough new corrections (the beat entry)."""
    settings = get_runtime().settings
    return train_due_tenants(
        get_runtime().db, settings.tenant_retrain_min_corrections, settings.models_dir
    )
