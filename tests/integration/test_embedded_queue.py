"""The embedded queue on a real Postgres: messages leave the table when taken, in order,
each to one consumer, and rows an older version kept are cleared on the first connection."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from queue import Empty

import psycopg
import pytest
from kombu import Connection

import workers.embedded_transport as embedded
from workers.broker import resolve_broker_url, transport_options

pytestmark = pytest.mark.integration


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


def test_rows_an_older_version_left_invisible_are_deleted_on_first_connection(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    with _queue(database_url, name) as queue:
        queue.put({"kept": True})  # type: ignore[attr-defined]
        queue.put({"waiting": True})  # type: ignore[attr-defined]
    # What kombu's transport leaves of a consumed message: the row, marked invisible.
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE kombu_message SET visible = false WHERE id = (SELECT min(m.id) FROM"
            " kombu_message m JOIN kombu_queue q ON q.id = m.queue_id WHERE q.name = %s)",
            (name,),
        )
    assert _rows(database_url, name) == (1, 1)
    monkeypatch.setattr(embedded, "_cleaned", set())  # a new process
    with _queue(database_url, name) as queue:
        assert _rows(database_url, name) == (1, 0)
        message = queue.get(timeout=5)  # type: ignore[attr-defined]
        assert message.payload == {"waiting": True}
        message.ack()
