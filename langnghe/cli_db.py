"""What the database-using commands share: options, settings, a pool, a tenant by name.

Kept apart from ``langnghe.cli`` so that command groups in their own modules
(``langnghe.topics_cli``) can use it without importing the CLI that mounts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from langnghe.config import Settings

if TYPE_CHECKING:
    from store.db import Database
    from store.tenants import Tenant

DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="Postgres URL; default: the embedded server."),
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Where the embedded Postgres keeps its files.")
]


def settings_for(database_url: str | None = None, data_dir: Path | None = None) -> Settings:
    """The settings, with the command-line options over the environment."""
    overrides: dict[str, object] = {}
    if database_url:
        overrides["database_url"] = database_url
    if data_dir:
        overrides["data_dir"] = data_dir
    return Settings(**overrides)  # type: ignore[arg-type]


@contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Settings whose database_url is set, starting the embedded Postgres when needed."""
    if settings.database_url:
        yield settings
        return
    from langnghe.embedded import start_embedded_postgres

    server = start_embedded_postgres(settings.data_dir)
    try:
        yield settings.model_copy(update={"database_url": server.get_uri()})
    finally:
        server.cleanup()


@contextmanager
def open_pool(database_url: str | None, max_size: int = 1) -> Iterator[Database]:
    """A small open connection pool for one command, closed on the way out."""
    from store.db import Database

    assert database_url
    db = Database(database_url, 1, max_size)
    db.open()
    try:
        yield db
    finally:
        db.close()


def tenant_or_exit(db: Database, name: str) -> Tenant:
    """The tenant called ``name``; a clear message and exit status 1 if there is none."""
    from store import tenants as tenants_store

    with db.transaction() as conn:
        found = tenants_store.get_tenant_by_name(conn, name)
    if found is None:
        typer.echo(f"no tenant named {name!r}", err=True)
        raise typer.Exit(1)
    return found
