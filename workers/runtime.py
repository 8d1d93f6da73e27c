"""What one worker process holds: its settings, a database pool and the loaded pipeline.

Created once per process (after Celery forks), so the model is loaded once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

from langnghe.config import Settings
from nlp.encoders.registry import encoder_options, load_encoder
from nlp.pipeline import Pipeline
from store.db import Database
from workers.health import write_health


@dataclass
class WorkerRuntime:
    """Lazily opened resources of one worker process."""

    settings: Settings

    @cached_property
    def db(self) -> Database:
        """The process's connection pool."""
        if not self.settings.database_url:
            raise RuntimeError("LANGNGHE_DATABASE_URL must be set for a worker")
        db = Database(self.settings.database_url, min_size=1, max_size=4)
        db.open()
        return db

    @cached_property
    def pipeline(self) -> Pipeline:
        """The NLP pipeline, loaded once."""
        encoder = load_encoder(self.settings.encoder, **encoder_options(self.settings))
        pipeline = Pipeline(
            encoder,
            models_dir=self.settings.models_dir,
            aspect_domain=self.settings.aspect_domain,
        )
        write_health(self.settings.data_dir, pipeline)
        return pipeline


_lock = threading.Lock()
_runtime: WorkerRuntime | None = None


def get_runtime() -> WorkerRuntime:
    """The process-wide runtime, created on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = WorkerRuntime(Settings())
        return _runtime
