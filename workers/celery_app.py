"""The Celery application, configured from Settings.

Messages carry ids only; results live in Postgres, not in a result backend.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from langnghe.config import Settings
from workers.broker import resolve_broker_url, transport_options

QUEUE = "langnghe"
# Sweeps, deliveries and signal checks have their own queue, which every worker also
# consumes: behind a backlog of analysis messages they would otherwise wait for it all.
CONTROL_QUEUE = "langnghe.control"
ANALYZE_TASK = "langnghe.analyze"
SWEEP_TASK = "langnghe.sweep"
DELIVER_TASK = "langnghe.deliver"
SIGNALS_TASK = "langnghe.signals"
TOPICS_REFIT_TASK = "langnghe.topics.refit"
TOPICS_EMERGING_TASK = "langnghe.topics.emerging"
RETENTION_TASK = "langnghe.privacy.retention"
CUSTOMERS_REFRESH_TASK = "langnghe.customers.refresh"
CUSTOMERS_RESCORE_TASK = "langnghe.customers.rescore"
RECATEGORIZE_TASK = "langnghe.taxonomy.recategorize"
TENANT_TRAIN_TASK = "langnghe.tenant.train"
DIGESTS_TASK = "langnghe.notifications.digests"
CONNECTORS_PULL_TASK = "langnghe.connectors.pull"
HELPDESK_TICKETS_TASK = "langnghe.connectors.tickets"


def create_celery(settings: Settings) -> Celery:
    """A Celery app for these settings, with the beat schedule for sweeps and delivery."""
    if not settings.database_url:
        raise RuntimeError("LANGNGHE_DATABASE_URL must be set for the queue")
    broker = resolve_broker_url(settings.broker_url, settings.database_url)
    app = Celery(
        "langnghe",
        broker=broker,
        include=[
            "workers.tasks",
            "workers.topic_tasks",
            "workers.customers",
            "workers.taxonomy_tasks",
            "workers.notification_tasks",
            "workers.connector_tasks",
        ],
        set_as_current=True,
    )
    app.conf.update(
        task_default_queue=QUEUE,
        task_queues=(Queue(QUEUE), Queue(CONTROL_QUEUE)),
        # Sweeps and deliveries never wait behind an analysis backlog; GPU workers consume
        # the analyze queue when LANGNGHE_ANALYZE_QUEUE names one (e.g. "gpu").
        task_routes={
            ANALYZE_TASK: {"queue": settings.analyze_queue},
            **{
                name: {"queue": CONTROL_QUEUE}
                for name in (
                    SWEEP_TASK,
                    DELIVER_TASK,
                    SIGNALS_TASK,
                    RETENTION_TASK,
                    CUSTOMERS_REFRESH_TASK,
                    CUSTOMERS_RESCORE_TASK,
                    DIGESTS_TASK,
                    CONNECTORS_PULL_TASK,
                    HELPDESK_TICKETS_TASK,
                )
            },
        },
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        # One message ahead per process: a process that finishes a batch takes the next
        # from its worker at once instead of waiting for the broker's next poll (py-spy had
        # a prefork process 9-14% of its time waiting so). Held messages are unacked
        # (acks_late): those of a worker that dies go to another, or the sweep requeues them.
        worker_prefetch_multiplier=2,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(broker),
        beat_schedule={
            "sweep": {"task": SWEEP_TASK, "schedule": settings.sweep_interval_s},
            "digests": {"task": DIGESTS_TASK, "schedule": settings.digest_interval_s},
            "deliver": {"task": DELIVER_TASK, "schedule": settings.deliver_interval_s},
            "signals": {"task": SIGNALS_TASK, "schedule": settings.signal_interval_s},
            "topics-refit": {
                "task": TOPICS_REFIT_TASK,
                "schedule": settings.topics_refit_interval_s,
            },
            "topics-due": {
                "task": TOPICS_REFIT_TASK,
                "schedule": settings.topics_due_check_interval_s,
                "kwargs": {"only_due": True},
            },
            "retention": {"task": RETENTION_TASK, "schedule": settings.retention_interval_s},
            "topics-emerging": {
                "task": TOPICS_EMERGING_TASK,
                "schedule": settings.topics_emerging_interval_s,
            },
            "customers-refresh": {
                "task": CUSTOMERS_REFRESH_TASK,
                "schedule": settings.sweep_interval_s,
            },
            "customers-rescore": {
                "task": CUSTOMERS_RESCORE_TASK,
                "schedule": settings.customers_rescore_interval_s,
            },
            "connectors-pull": {
                "task": CONNECTORS_PULL_TASK,
                "schedule": settings.connector_poll_interval_s,
            },
            "helpdesk-tickets": {
                "task": HELPDESK_TICKETS_TASK,
                "schedule": settings.deliver_interval_s,
            },
            "tenant-train-due": {
                "task": TENANT_TRAIN_TASK,
                "schedule": settings.tenant_retrain_interval_s,
            },
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )
    return app
