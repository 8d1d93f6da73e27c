"""Which commits wait for the disk: results do; leases, claims and the embedded queue do not.

And the embedded queue polls every 0.1 s, not kombu's 1 s.
"""

from __future__ import annotations

import pytest
import sqlalchemy
from kombu import Connection

from store.db import Database
from workers.broker import EMBEDDED_SCHEME, resolve_broker_url, transport_options
from workers.embedded_transport import POLLING_INTERVAL_S, EmbeddedTransport

pytestmark = pytest.mark.integration


def _setting(db: Database, durable: bool) -> str:
    with db.transaction(durable=durable) as conn:
        row = conn.execute("SHOW synchronous_commit").fetchone()
    assert row is not None
    return str(row["synchronous_commit"])


def test_only_transactions_marked_so_skip_the_wait_and_only_for_themselves(
    database_url: str,
) -> None:
    # One connection, so a setting that outlived its transaction would show in the next.
    small = Database(database_url, 1, 1)
    small.open()
    try:
        assert _setting(small, durable=True) == "on"
        assert _setting(small, durable=False) == "off"
        assert _setting(small, durable=True) == "on"  # SET LOCAL: gone at commit
        with small.transaction(durable=False) as conn:
            conn.execute("CREATE TEMP TABLE probe (x int) ON COMMIT DROP")
            conn.execute("INSERT INTO probe VALUES (1)")
            row = conn.execute("SELECT count(*) AS n FROM probe").fetchone()
        assert row == {"n": 1}
    finally:
        small.close()


def test_the_embedded_queue_commits_without_waiting_and_still_delivers(database_url: str) -> None:
    url = resolve_broker_url(None, database_url)
    with Connection(url, transport_options=transport_options(url)) as connection:
        queue = connection.SimpleQueue("durability-probe")
        queue.put({"n": 1})
        message = queue.get(timeout=10)
        assert message.payload == {"n": 1}
        message.ack()
        session = connection.default_channel.session
        assert session.execute(sqlalchemy.text("SHOW synchronous_commit")).scalar() == "off"
        queue.close()
        session.close()
        session.get_bind().dispose()  # kombu keeps its engines; the test database goes away
        assert isinstance(connection.transport, EmbeddedTransport)
        assert connection.transport.polling_interval == POLLING_INTERVAL_S == 0.1
    assert url.startswith(f"{EMBEDDED_SCHEME}+postgresql+psycopg://")
    # An explicit kombu SQLAlchemy URL gets the same connection arguments; Redis its own.
    assert transport_options("sqla+" + url.split("+", 1)[1]) == transport_options(url)
    assert transport_options("redis://127.0.0.1:6379/15") == {"visibility_timeout": 3600}
