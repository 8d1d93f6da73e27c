"""Schema migrations, applied with yoyo-migrations from the SQL files beside this module."""

from __future__ import annotations

from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _yoyo_url(database_url: str) -> str:
    # yoyo picks its driver from the scheme; psycopg 3 is "postgresql+psycopg".
    scheme, _, rest = database_url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return database_url


def pending_migrations(database_url: str) -> list[str]:
    """Ids of the migrations not yet applied to the database."""
    backend = get_backend(_yoyo_url(database_url))
    try:
        return [m.id for m in backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))]
    finally:
        backend.connection.close()


def apply_migrations(database_url: str) -> list[str]:
    """Apply every pending migration under yoyo's lock; return the ids applied."""
    backend = get_backend(_yoyo_url(database_url))
    try:
        with backend.lock():
            todo = backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))
            backend.apply_migrations(todo)
            return [m.id for m in todo]
    finally:
        backend.connection.close()
