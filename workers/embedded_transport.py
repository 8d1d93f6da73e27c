"""The embedded broker's kombu transport: the SQLAlchemy one, polling every 0.1 s.

kombu's virtual transports sleep ``polling_interval`` (1 s) whenever they take nothing,
and a prefork worker takes nothing whenever each of its processes already holds a task:
a process that finished a batch then waited up to a second for its next one, a third of
its time at our batch sizes. The interval cannot be set through transport options,
because the SQLAlchemy transport hands every option to ``create_engine``.
"""

from __future__ import annotations

from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport

POLLING_INTERVAL_S = 0.1


class EmbeddedTransport(SQLAlchemyTransport):
    """kombu's SQLAlchemy transport with a 0.1 s polling interval."""

    polling_interval = POLLING_INTERVAL_S
