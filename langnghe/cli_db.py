"""What the database-using commands share: options, settings, a pool, a tenant by name.

Kept apart from ``langnghe.cli`` so that command groups in their own modules
(``langnghe.topics_cli``) can use it without importing the CLI that mounts them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import platformdirs
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


def up_state_file() -> Path:
    """Where ``langnghe up`` notes its data directory and database for the other commands."""
    override = os.environ.get("LANGNGHE_STATE_FILE")
    return Path(override) if override else platformdirs.user_state_path("langnghe") / "up.json"


def remember_up(data_dir: Path, database_url: str) -> None:
    """Note what this ``langnghe up`` serves, so that other commands find it unasked."""
    state = up_state_file()
    state.parent.mkdir(parents=True, exist_ok=True)
    record = {"data_dir": str(data_dir), "database_url": database_url, "pid": os.getpid()}
    state.write_text(json.dumps(record))


def forget_up() -> None:
    """Remove this process's note on the way out (keeping the data directory it named)."""
    state = up_state_file()
    record = _read_up()
    if record is not None and record.get("pid") == os.getpid():
        state.write_text(json.dumps({"data_dir": record["data_dir"]}))


def _read_up() -> dict[str, Any] | None:
    try:
        record = json.loads(up_state_file().read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "data_dir" in record else None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def settings_for(database_url: str | None = None, data_dir: Path | None = None) -> Settings:
    """The settings, with the command-line options over the environment.

    With neither a database nor a data directory named (options or LANGNGHE_*), a
    command uses what ``langnghe up`` last served: its running database, or else its
    data directory; so ``up --data-dir D`` need not be repeated on every command.
    """
    overrides: dict[str, object] = {}
    if database_url:
        overrides["database_url"] = database_url
    if data_dir:
        overrides["data_dir"] = data_dir
    named = database_url or data_dir or os.environ.get("LANGNGHE_DATABASE_URL")
    if not named and not os.environ.get("LANGNGHE_DATA_DIR"):
        record = _read_up()
        if record is not None:
            overrides["data_dir"] = Path(record["data_dir"])
            if record.get("database_url") and _alive(record.get("pid")):
                overrides["database_url"] = record["database_url"]
    return Settings(**overrides)  # type: ignore[arg-type]


@contextmanager
def database(settings: Settings, create: bool = False) -> Iterator[Settings]:
    """Settings whose database_url is set, starting the embedded Postgres when needed.

    Only ``create`` (``langnghe up``, ``langnghe migrate``) may make a new embedded
    cluster; any other command pointed at a data directory without one stops with one
    line instead of leaving an empty cluster behind.
    """
    if settings.database_url:
        yield settings
        return
    from langnghe.embedded import start_embedded_postgres

    if not create and not (settings.data_dir / "pgdata" / "PG_VERSION").is_file():
        typer.echo(
            f"no database under {settings.data_dir}: run `langnghe up` first "
            "(or pass --data-dir, or --database-url)",
            err=True,
        )
        raise typer.Exit(1)

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


@contextmanager
def command_db(
    database_url: str | None, data_dir: Path | None, max_size: int = 2
) -> Iterator[tuple[Settings, Database]]:
    """The settings and an open pool on the command's database, once it is there and migrated.

    A database that cannot be reached, or that lacks the schema, ends the command
    with one line saying what to run, not with a traceback.
    """
    import psycopg

    from store.migrate import pending_migrations

    with database(settings_for(database_url, data_dir)) as settings:
        assert settings.database_url
        try:
            pending = pending_migrations(settings.database_url)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            typer.echo(f"cannot reach the database: {first}", err=True)
            raise typer.Exit(1) from None
        if pending:
            typer.echo(
                f"the database is not initialised ({len(pending)} migration(s) pending): "
                "run `langnghe migrate` (or `langnghe up`)",
                err=True,
            )
            raise typer.Exit(1)
        with open_pool(settings.database_url, max_size=max_size) as db:
            yield settings, db


def tenant_or_exit(db: Database, name: str) -> Tenant:
    """The tenant called ``name``; a clear message and exit status 1 if there is none."""
    from store import tenants as tenants_store

    with db.transaction() as conn:
        found = tenants_store.get_tenant_by_name(conn, name)
    if found is None:
        typer.echo(f"no tenant named {name!r}", err=True)
        raise typer.Exit(1)
    return found
