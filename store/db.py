"""The connection pool every query runs through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

Conn = psycopg.Connection[dict[str, Any]]


class Database:
    """A psycopg 3 pool whose connections return rows as dicts."""

    def __init__(self, url: str, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "autocommit": False},
            # A restarted server leaves dead connections in the pool; check each
            # one on checkout so a request gets a live one instead of an error.
            check=ConnectionPool.check_connection,
            open=False,
        )

    def open(self, wait_s: float = 30.0) -> None:
        """Open the pool and wait until at least ``min_size`` connections work."""
        self._pool.open(wait=True, timeout=wait_s)

    def close(self) -> None:
        """Close every connection."""
        self._pool.close()

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Conn]:
        """A connection inside one transaction: committed on success, rolled back on error.

        ``durable=False`` commits without waiting for the WAL to reach the disk
        (``synchronous_commit = off`` for this transaction only): a crash of the server
        may forget the last fraction of a second of such commits, whole, never half of
        one, and a later durable commit makes them durable too. A commit that waits costs
        milliseconds of fsync, more than the rest of a small transaction; use it only
        for writes that at-least-once work redoes when they are lost: leases, claims and
        the outcome records of deliveries.
        """
        with self._pool.connection() as conn, conn.transaction():
            if not durable:
                conn.execute("SET LOCAL synchronous_commit = off")
            yield conn

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.transaction() as conn:
            conn.execute("SELECT 1")
