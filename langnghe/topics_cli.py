"""``langnghe topics ...``: refit a tenant's topics here, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

topics_app = typer.Typer(help="Topic modelling.")

# Share of the bar each stage takes: the fit (UMAP, HDBSCAN, c-TF-IDF) dominates.
_STAGES = {"load": (0, 5), "segment": (5, 35), "fit": (35, 90), "write": (90, 100)}


@topics_app.command("refit")
def refit(
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = "default",
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Postgres URL; default: embedded.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where the embedded Postgres keeps files.")
    ] = None,
) -> None:
    """Fit the tenant's topics now on every analysed item (ids stay stable, edits stay)."""
    from langnghe.cli import _database, _settings
    from store import tenants as tenants_store
    from store.db import Database
    from workers.topics import RefitError, refit_tenant

    with _database(_settings(database_url, data_dir)) as settings:
        assert settings.database_url
        db = Database(settings.database_url, 1, 2)
        db.open()
        try:
            with db.transaction() as conn:
                found = tenants_store.get_tenant_by_name(conn, tenant)
            if found is None:
                typer.echo(f"no tenant named {tenant!r}", err=True)
                raise typer.Exit(1)
            with tqdm(
                total=100, desc="topics", unit="%", bar_format="{l_bar}{bar}| {elapsed}"
            ) as bar:

                def progress(stage: str, done: int, total: int) -> None:
                    low, high = _STAGES.get(stage, (bar.n, bar.n))
                    target = low + (high - low) * (done / total if total else 1)
                    bar.set_description(f"topics: {stage}")
                    bar.update(max(0.0, round(target - bar.n, 1)))

                try:
                    result = refit_tenant(db, found.id, settings, progress)
                except RefitError as exc:
                    bar.close()
                    typer.echo(f"not refitted: {exc}", err=True)
                    raise typer.Exit(1) from exc
        finally:
            db.close()
    typer.echo(
        f"{result.n_topics} topics over {result.n_docs} items "
        f"({result.kept_ids} kept their id, {result.new_ids} new); "
        f"outliers {result.outlier_share_before:.0%} -> {result.outlier_share:.0%}; "
        f"{result.emerging} emerging"
    )
