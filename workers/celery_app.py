"""The Celery application, configured from Settings.

Messages carry ids only; results live in Postgres, not in a result backend.
"""

from __future__ import annotations

from celery import Celery

from langnghe.config import Settings
from workers.broker import resolve_broker_url, transport_options

QUEUE = "langnghe"
ANALYZE_TASK = "langnghe.analyze"
SWEEP_TASK = "langnghe.sweep"
DELIVER_TASK = "langnghe.deliver"


def create_celery(settings: Settings) -> Celery:
    """A Celery app for these settings, with the beat schedule for sweeps and delivery."""
    if not settings.database_url:
        raise RuntimeError("LANGNGHE_DATABASE_URL must be set for the queue")
    broker = resolve_broker_url(settings.broker_url, settings.database_url)
    app = Celery("langnghe", broker=broker, include=["workers.tasks"], set_as_current=True)
    app.conf.update(
        task_default_queue=QUEUE,
        # GPU workers consume the analyze queue (the encoder work), CPU workers the rest.
        task_routes={ANALYZE_TASK: {"queue": settings.analyze_queue}},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(broker),
        beat_schedule={
            "sweep": {"task": SWEEP_TASK, "schedule": settings.sweep_interval_s},
            "deliver": {"task": DELIVER_TASK, "schedule": settings.deliver_interval_s},
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )
    return app
