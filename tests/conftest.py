"""Shared fixtures: a real Postgres (local server or embedded pgserver), tenants and keys."""

from __future__ import annotations

import os
import secrets
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from store import tenants as tenants_store
from store.db import Database
from store.migrate import apply_migrations


@dataclass(frozen=True)
class TenantKey:
    """A tenant made for one test, and its API key."""

    id: UUID
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def _fresh_database(server_url: str) -> Iterator[str]:
    name = f"langnghe_test_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated, empty database for this test session.

    LANGNGHE_TEST_DATABASE_URL names a server to create it on; otherwise an
    embedded pgserver is started in a temporary directory.
    """
    server_url = os.environ.get("LANGNGHE_TEST_DATABASE_URL")
    if server_url:
        for url in _fresh_database(server_url):
            apply_migrations(url)
            yield url
        return
    import pgserver

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(Path(tmp) / "pgdata", cleanup_mode="stop")
        try:
            for url in _fresh_database(server.get_uri()):
                apply_migrations(url)
                yield url
        finally:
            server.cleanup()


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    """An open pool on the test database."""
    database = Database(database_url, 1, 5)
    database.open()
    yield database
    database.close()


def make_tenant(db: Database) -> TenantKey:
    """A new tenant with one API key."""
    name = f"tenant-{secrets.token_hex(4)}"
    with db.transaction() as conn:
        created = tenants_store.create_tenant(conn, name)
        key = tenants_store.create_api_key(conn, created.id, "test")
    return TenantKey(created.id, name, key)


@pytest.fixture
def tenant(db: Database) -> TenantKey:
    """A new tenant with one API key."""
    return make_tenant(db)
