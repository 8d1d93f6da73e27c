"""Analysis goes to the configured queue, so GPU workers can take the encoder work;
sweeps and deliveries go to the control queue, never behind an analysis backlog."""

from __future__ import annotations

from langnghe.config import Settings
from workers.celery_app import (
    ANALYZE_TASK,
    CONTROL_QUEUE,
    DELIVER_TASK,
    QUEUE,
    SWEEP_TASK,
    create_celery,
)


def _route(settings: Settings, task: str) -> str:
    app = create_celery(settings)
    return str(app.amqp.router.route({}, task)["queue"].name)


def test_analyze_goes_to_the_gpu_queue_when_configured(tmp_path) -> None:
    base = {"database_url": "postgresql://x@127.0.0.1:1/x", "data_dir": tmp_path}
    gpu = Settings(**base, broker_url="redis://127.0.0.1:1/0", analyze_queue="gpu")
    assert _route(gpu, ANALYZE_TASK) == "gpu"
    # Sweeps and deliveries stay on the control queue that every CPU worker reads.
    assert _route(gpu, DELIVER_TASK) == CONTROL_QUEUE
    assert _route(gpu, SWEEP_TASK) == CONTROL_QUEUE
    default = Settings(**base, broker_url="redis://127.0.0.1:1/0")
    assert _route(default, ANALYZE_TASK) == QUEUE
