"""The command line on a real Postgres: keys, erasure, ingest in /metrics, first-run errors."""

from __future__ import annotations

import json
import re
import secrets
import socket
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from langnghe.cli import app
from store import tenants as tenants_store
from store.db import Database
from tests.conftest import TenantKey

pytestmark = pytest.mark.integration
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_keys_create_list_rotate_revoke(database_url: str, tenant: TenantKey) -> None:
    db_opt = ("--database-url", database_url, "--tenant", tenant.name)
    code, out = _run(
        "keys", "create", *db_opt, "--name", "etl", "--scope", "ingest", "--expires", "30d"
    )
    assert code == 0, out
    key_id = re.search(r"key id: (\S+)", out)
    key = re.search(r"api key \(shown once\): (lng_\S+)", out)
    assert key_id and key and "scopes: ingest" in out

    code, out = _run("keys", "list", *db_opt)
    assert code == 0 and key_id[1] in out and key[1][:12] in out and key[1] not in out
    row = next(line for line in out.splitlines() if key_id[1] in line)
    assert " active " in row and " ingest " in row and row.rstrip().endswith("etl")

    code, out = _run("keys", "rotate", key_id[1], *db_opt)
    assert code == 0, out
    new_id = re.search(r"new key id: (\S+)", out)
    assert new_id
    code, out = _run("keys", "rotate", key_id[1], *db_opt)
    assert code == 1 and "revoked" in out
    code, out = _run("keys", "revoke", new_id[1], *db_opt)
    assert code == 0 and "revoked" in out
    code, out = _run("keys", "list", *db_opt)
    assert out.count(" revoked ") == 2

    # Bad input: one line each, not a traceback.
    for args, needle in (
        (("keys", "create", *db_opt, "--scope", "root"), "unknown scope root"),
        (("keys", "create", *db_opt, "--expires", "2020-01-01T00:00:00+00:00"), "future"),
        (("keys", "create", *db_opt, "--expires", "tomorrow"), "duration"),
        (("keys", "revoke", "not-a-uuid", *db_opt), "not a key id"),
    ):
        code, out = _run(*args)
        assert code == 2 and needle in out and "Traceback" not in out, args
    code, out = _run("keys", "revoke", "00000000-0000-0000-0000-000000000000", *db_opt)
    assert code == 1 and "no key" in out


def test_cli_changes_are_audited(database_url: str, tenant: TenantKey, db: Database) -> None:
    code, _ = _run("keys", "create", "--database-url", database_url, "--tenant", tenant.name)
    assert code == 0
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT actor_type, action, target_type FROM audit_log WHERE tenant_id = %s",
            (tenant.id,),
        ).fetchone()
    assert row == {"actor_type": "cli", "action": "keys.create", "target_type": "key"}


def test_privacy_erase_prints_the_receipt(
    database_url: str, tenant: TenantKey, client: httpx.Client
) -> None:
    item = {"text": "late", "channel": "review", "customer_ref": "cust-77"}
    assert client.post("/v1/feedback", json=item, headers=tenant.headers).status_code == 202
    code, out = _run(
        "privacy",
        "erase",
        "--database-url",
        database_url,
        "--tenant",
        tenant.name,
        "--customer-ref",
        "cust-77",
    )
    assert code == 0, out
    receipt = json.loads(out)
    assert receipt["counts"]["feedback"] == 1 and receipt["subject_kind"] == "customer_ref"
    stored = client.get(f"/v1/privacy/erasure/{receipt['id']}", headers=tenant.headers)
    assert stored.status_code == 200
    code, out = _run("privacy", "erase", "--database-url", database_url, "--tenant", tenant.name)
    assert code == 2 and "exactly one" in out


def test_cli_ingest_is_counted_in_metrics(
    database_url: str, tenant: TenantKey, client: httpx.Client, tmp_path: Path
) -> None:
    def ingested() -> float:
        text = client.get("/metrics").text
        match = re.search(
            r'langnghe_feedback_ingested_total\{channel="survey",origin="cli"\} (\S+)', text
        )
        return float(match[1]) if match else 0.0

    before = ingested()
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "\n".join(json.dumps({"text": f"survey {n}", "channel": "survey"}) for n in range(3))
    )
    code, out = _run("ingest", str(rows), "--database-url", database_url, "--tenant", tenant.name)
    assert code == 0 and "accepted 3" in out, out
    assert ingested() == before + 3


def test_a_channel_is_required_and_says_so(client: httpx.Client, tenant: TenantKey) -> None:
    response = client.post("/v1/feedback", json={"text": "no channel"}, headers=tenant.headers)
    assert response.status_code == 422
    assert ["channel"] in [d["loc"] for d in response.json()["error"]["details"]]


def test_commands_on_a_missing_or_empty_database_say_so_in_one_line(
    tmp_path: Path, database_url: str
) -> None:
    empty_dir = tmp_path / "nothing-here"
    code, out = _run("tenants", "list", "--data-dir", str(empty_dir))
    assert code == 1 and out.strip().startswith("no database under")
    assert len(out.strip().splitlines()) == 1
    assert not empty_dir.exists()  # no stray cluster

    server = database_url.rsplit("/", 1)[0] + "/postgres"
    name = f"langnghe_empty_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        empty_url = database_url.rsplit("/", 1)[0] + f"/{name}"
        code, out = _run("ingest", __file__, "--database-url", empty_url)
        assert code == 1 and "not initialised" in out and "langnghe migrate" in out
        assert len(out.strip().splitlines()) == 1
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_up_on_a_busy_port_stops_at_once(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = _run("up", "--data-dir", str(tmp_path / "d"), "--port", str(port))
    assert code == 1 and f"port {port} on 127.0.0.1 is already in use" in out
    assert not (tmp_path / "d").exists()  # nothing was started


def test_the_first_key_is_admin(db: Database) -> None:
    with db.transaction() as conn:
        created = tenants_store.create_tenant(conn, f"t-{secrets.token_hex(4)}")
        tenants_store.create_api_key(conn, created.id, "first key")
        row = conn.execute(
            "SELECT scopes FROM api_keys WHERE tenant_id = %s", (created.id,)
        ).fetchone()
    assert row == {"scopes": ["admin"]}
