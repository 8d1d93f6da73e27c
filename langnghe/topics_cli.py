"""``langnghe topics ...``: refit a tenant's topics here, with a progress bar."""

from __future__ import annotations

from typing import Annotated

import typer
from tqdm import tqdm

from langnghe.cli_db import (
    DatabaseOpt,
    DataDirOpt,
    command_db,
    tenant_or_exit,
)

topics_app = typer.Typer(help="Topic modelling.")

# Share of the bar each stage takes: the fit (UMAP, HDBSCAN, c-TF-IDF) dominates.
_STAGES = {"load": (0, 5), "segment": (5, 35), "fit": (35, 90), "write": (90, 100)}


@topics_app.command("refit")
def refit(
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = "default",
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Fit the tenant's topics now on every analysed item (ids stay stable, edits stay)."""
    from workers.topics import RefitError, refit_tenant

    with command_db(database_url, data_dir) as (settings, db):
        found = tenant_or_exit(db, tenant)
        with tqdm(total=100, desc="topics", unit="%", bar_format="{l_bar}{bar}| {elapsed}") as bar:

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
    typer.echo(
        f"{result.n_topics} topics in {result.n_themes} themes over {result.n_docs} items "
        f"({result.kept_ids} kept their id, {result.new_ids} new); "
        f"outliers {result.outlier_share_before:.0%} -> {result.outlier_share:.0%}; "
        f"{result.emerging} emerging"
    )
