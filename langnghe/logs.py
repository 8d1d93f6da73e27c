"""Structured JSON logs, with the request id of the HTTP request being served."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id is not None:
            record.request_id = request_id
        return True


# Celery's lines for every task run and every beat tick ("Task ... received", "Task ...
# succeeded", "Scheduler: Sending due task"): at INFO they are three lines every 5 s on an
# idle service. They are routine: shown at DEBUG; failures keep their own, higher level.
_ROUTINE_LOGGERS = frozenset({"celery.app.trace", "celery.worker.strategy", "celery.beat"})


class _RoutineAtDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in _ROUTINE_LOGGERS and record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure_logging(level: str = "INFO") -> None:
    """Send every log record to stderr as one JSON object a line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(_RoutineAtDebug())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
