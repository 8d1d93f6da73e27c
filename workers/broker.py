"""Which Celery broker to use."""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES

# The embedded queue's URL scheme: kombu's SQLAlchemy transport, polling more often (see
# workers.embedded_transport; the string is resolved by kombu only when a connection opens).
EMBEDDED_SCHEME = "langnghe-sqla"
TRANSPORT_ALIASES.setdefault(EMBEDDED_SCHEME, "workers.embedded_transport:EmbeddedTransport")


def sqlalchemy_url(database_url: str) -> str:
    """The same Postgres as an SQLAlchemy URL on the psycopg 3 driver."""
    scheme, sep, rest = database_url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {database_url!r}")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return database_url


def resolve_broker_url(broker_url: str | None, database_url: str) -> str:
    """The configured broker, or a queue inside Postgres itself when none is configured.

    The embedded mode needs no broker server: kombu's SQLAlchemy transport keeps
    the queue in two tables of the database we already run.
    """
    if broker_url:
        return broker_url
    return f"{EMBEDDED_SCHEME}+{sqlalchemy_url(database_url)}"


# The embedded queue's commits (a publish, a fetch, an ack) do not wait for the disk. A
# message lost in a crash of Postgres is re-sent by the sweep, which finds its items
# unfinished; a lost ack redelivers a task, and every task is idempotent. Waiting for the
# fsync cost several milliseconds per message, as much as analysing a few items.
SQLA_CONNECT_ARGS = {"options": "-c synchronous_commit=off"}


def transport_options(broker_url: str) -> dict[str, Any]:
    """Broker transport options for the chosen broker.

    Redis redelivers an unacknowledged (``acks_late``) task after the visibility
    timeout; an hour is longer than any batch. The SQLAlchemy transport hands all
    its options to ``create_engine``: the connection arguments of the embedded queue.
    """
    if broker_url.startswith(("sqla+", f"{EMBEDDED_SCHEME}+")):
        return {"connect_args": SQLA_CONNECT_ARGS}
    return {"visibility_timeout": 3600}
