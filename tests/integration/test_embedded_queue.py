"""The embedded queue on a real Postgres: messages leave the table when taken, in order,
each to one consumer, and migration 0015 clears the rows older versions kept."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from queue import Empty

import psycopg
import pytest
from kombu import Connection

from store.migrate import MIGRATIONS_DIR
from workers.broker import resolve_broker_url, transport_options

pytestmark = pytest.mark.integration

MIGRATION = MIGRATIONS_DIR / "0015_embedded_queue_taken.sql"


@contextmanager
def _queue(database_url: str, name: str) -> Iterator[object]:
    url = resolve_broker_url(None, database_url)
    with Connection(url, transport_options=transport_options(url)) as connection:
        queue = connection.SimpleQueue(name)
        try:
            yield queue
        finally:
            queue.close()
            session = connection.default_channel.session
            session.close()
            session.get_bind().dispose()  # kombu keeps its engines; the database goes away


def _rows(database_url: str, name: str) -> tuple[int, int]:
    """(visible, invisible) messages of the queue ``name``."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE m.visible), count(*) FILTER (WHERE NOT m.visible)"
            " FROM kombu_message m JOIN kombu_queue q ON q.id = m.queue_id WHERE q.name = %s",
            (name,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_a_taken_message_leaves_the_table_and_order_is_kept(database_url: str) -> None:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    with _queue(database_url, name) as queue:
        for n in range(5):
            queue.put({"n": n})  # type: ignore[attr-defined]
        assert _rows(database_url, name) == (5, 0)
        taken = []
        for _ in range(5):
            message = queue.get(timeout=5)  # type: ignore[attr-defined]
            taken.append(message.payload["n"])
            message.ack()
        assert taken == [0, 1, 2, 3, 4]
        # kombu's own transport keeps every taken message, invisible, for ever.
        assert _rows(database_url, name) == (0, 0)
        with pytest.raises(Empty):
            queue.get(timeout=0.3)  # type: ignore[attr-defined]


def test_two_consumers_take_each_message_once(database_url: str) -> None:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    with _queue(database_url, name) as queue:
        for n in range(60):
            queue.put({"n": n})  # type: ignore[attr-defined]
    got: list[list[int]] = [[], []]

    def consume(mine: list[int]) -> None:
        with _queue(database_url, name) as queue:
            while True:
                try:
                    message = queue.get(timeout=1)  # type: ignore[attr-defined]
                except Empty:
                    return
                mine.append(message.payload["n"])
                message.ack()

    threads = [threading.Thread(target=consume, args=(g,)) for g in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(got[0] + got[1]) == list(range(60))
    assert _rows(database_url, name) == (0, 0)


def test_migration_0015_deletes_the_rows_older_versions_left_invisible(database_url: str) -> None:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    with _queue(database_url, name) as queue:
        queue.put({"taken": True})  # type: ignore[attr-defined]
        queue.put({"waiting": True})  # type: ignore[attr-defined]
    # What kombu's own transport leaves of a message it handed out: the row, invisible.
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE kombu_message SET visible = false WHERE id = (SELECT min(m.id) FROM"
            " kombu_message m JOIN kombu_queue q ON q.id = m.queue_id WHERE q.name = %s)",
            (name,),
        )
    assert _rows(database_url, name) == (1, 1)
    with psycopg.connect(database_url) as conn:
        conn.execute(MIGRATION.read_text())  # type: ignore[call-overload]
    assert _rows(database_url, name) == (1, 0)
    with _queue(database_url, name) as queue:
        message = queue.get(timeout=5)  # type: ignore[attr-defined]
        assert message.payload == {"waiting": True}
        message.ack()


def test_migration_0015_runs_where_kombu_never_made_its_tables(database_url: str) -> None:
    # A database behind a Redis broker has no kombu tables: there the migration does nothing.
    # An empty schema first on the search path stands for one (rolled back after).
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE SCHEMA no_kombu")
        conn.execute("SET LOCAL search_path TO no_kombu")
        conn.execute(MIGRATION.read_text())  # type: ignore[call-overload]
        assert conn.execute("SELECT to_regclass('kombu_message')").fetchone() == (None,)
        conn.rollback()
