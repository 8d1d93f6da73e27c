"""Pull connectors against real servers: an IMAP server (pymap) and a drop folder.

pymap is a Python IMAP4rev1 server; the test starts it on a free port with an in-memory
mailbox and APPENDs messages to it over IMAP, as a mail server receiving them would.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import httpx
import pytest

from langnghe.config import Settings
from langnghe.secrets import SecretBox, new_key
from store.db import Database
from tests.conftest import TenantKey, make_tenant
from tests.helpers import free_port, running_api
from workers.celery_app import create_celery
from workers.connector_tasks import secret_key_problem
from workers.connectors import PullContext, run_due

IMAP_USER = "support@shop.test"
IMAP_PASSWORD = "imap-pass-7f3c9a"


@pytest.fixture(scope="module")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with a secret key, a drop-folder root and loopback targets allowed."""
    root = tmp_path_factory.mktemp("connectors")
    (root / "drops").mkdir()
    return Settings(
        database_url=database_url,
        data_dir=root / "data",
        secret_key=new_key(),
        connector_folder_root=root / "drops",
        webhook_allowed_networks="127.0.0.0/8,::1/128",
    )


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[str]:
    """An API server with those settings."""
    with running_api(settings) as url:
        yield url


class ImapServer:
    """A pymap server with one user and an in-memory store, on a free loopback port."""

    def __init__(self) -> None:
        pymap = Path(sys.executable).with_name("pymap")
        if not pymap.exists():
            pytest.skip("pymap (the test IMAP server) is not installed")
        self.port = free_port()
        self._process = subprocess.Popen(
            [
                str(pymap),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "dict",
                "--demo-user",
                IMAP_USER,
                "--demo-password",
                IMAP_PASSWORD,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    pytest.skip("the pymap IMAP server did not start")
                time.sleep(0.1)

    def append(self, mailbox: str, message: EmailMessage) -> None:
        """Deliver a message into a mailbox (created if missing)."""
        imap = imaplib.IMAP4("127.0.0.1", self.port)
        try:
            imap.login(IMAP_USER, IMAP_PASSWORD)
            imap.create(mailbox)  # NO when it exists already: harmless
            status, _ = imap.append(mailbox, None, None, message.as_bytes())
            assert status == "OK"
        finally:
            imap.logout()

    def stop(self) -> None:
        """Stop the server."""
        self._process.terminate()
        self._process.wait(timeout=10)


@pytest.fixture(scope="module")
def imap_server() -> Iterator[ImapServer]:
    """The running IMAP server."""
    server = ImapServer()
    yield server
    server.stop()


def mail(
    sender: str, subject: str, body: str, *, html: bool = False, msgid: bool = True
) -> EmailMessage:
    """An e-mail as a customer's client would send it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = IMAP_USER
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    if msgid:
        message["Message-ID"] = make_msgid(domain="customer.test")
    message.set_content(body, subtype="html" if html else "plain")
    return message


def imap_connector(
    imap_server: ImapServer, name: str, mailbox: str, password: str
) -> dict[str, Any]:
    """The body that creates an IMAP connector on the test server."""
    return {
        "kind": "imap",
        "name": name,
        "config": {
            "host": "127.0.0.1",
            "port": imap_server.port,
            "security": "none",
            "username": IMAP_USER,
            "password": password,
            "mailbox": mailbox,
        },
    }


def run(http: httpx.Client, tenant: TenantKey, connector_id: str) -> dict[str, Any]:
    reply = http.post(f"/v1/connectors/{connector_id}/run", headers=tenant.headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_imap_messages_are_ingested_once_across_runs_and_a_restart(
    api: str, settings: Settings, db: Database, imap_server: ImapServer
) -> None:
    tenant = make_tenant(db)
    mailbox = f"Support-{tenant.name}"
    sent = [
        mail(
            "Lan Nguyen <lan@customer.test>",
            "Giao hàng trễ",
            "Đơn hàng giao trễ 5 ngày, tôi rất thất vọng.\n\n-- \nNguyễn Thị Lan\n\n"
            "Vào Th 2, shop viết:\n> Cảm ơn bạn đã đặt hàng",
        ),
        mail("bob@customer.test", "Refund", "I was charged twice and nobody answers."),
        mail("chi@customer.test", "HTML", "<p>The app <b>crashes</b> at checkout.</p>", html=True),
        mail("dan@customer.test", "No id", "No Message-ID on this one.", msgid=False),
    ]
    for message in sent:
        imap_server.append(mailbox, message)

    with httpx.Client(base_url=api, timeout=60) as http:
        created = http.post(
            "/v1/connectors",
            json=imap_connector(imap_server, "support-mailbox", mailbox, IMAP_PASSWORD),
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
        assert IMAP_PASSWORD not in created.text
        connector = created.json()
        assert connector["secrets"] == {"password": "…" + IMAP_PASSWORD[-4:]}
        assert "password" not in connector["config"]

        first = run(http, tenant, connector["id"])
        assert (first["status"], first["fetched"], first["accepted"]) == ("ok", 4, 4), first
        second = run(http, tenant, connector["id"])
        assert (second["fetched"], second["accepted"]) == (0, 0), second

    late = mail("em@customer.test", "Again", "Still no reply about my order.")
    imap_server.append(mailbox, late)
    # A restart: a new API process state (pools, app), the cursor read back from Postgres.
    with running_api(settings) as url, httpx.Client(base_url=url, timeout=60) as http:
        third = run(http, tenant, connector["id"])
        assert (third["fetched"], third["accepted"]) == (1, 1), third
        # A crash between storing and saving the cursor: the next run reads everything again,
        # and the Message-IDs make it store nothing twice.
        with db.transaction() as conn:
            conn.execute("UPDATE connectors SET cursor = '{}' WHERE id = %s", (connector["id"],))
        again = run(http, tenant, connector["id"])
        assert (again["fetched"], again["accepted"], again["duplicates"]) == (5, 0, 5), again

        items = http.get("/v1/feedback?channel=email", headers=tenant.headers).json()["items"]
        listed = http.get("/v1/connectors", headers=tenant.headers).json()["items"]
    assert len(items) == 5
    by_id = {i["external_id"]: i for i in items}
    for message in [*sent[:3], late]:
        item = by_id[message["Message-ID"]]
        assert item["source"] == "imap" and item["channel"] == "email"
        assert item["metadata"]["subject"] == message["Subject"]
        assert "\r" not in item["text"]
    assert by_id[sent[0]["Message-ID"]]["customer_ref"] == "lan@customer.test"
    assert by_id[sent[0]["Message-ID"]]["text"].startswith("Đơn hàng giao trễ 5 ngày")
    assert by_id[sent[2]["Message-ID"]]["text"] == "The app crashes at checkout."
    fallback = [k for k in by_id if k.startswith("imap:")]
    assert len(fallback) == 1 and by_id[fallback[0]]["customer_ref"] == "dan@customer.test"

    (shown,) = listed
    assert shown["cursor"]["last_uid"] > 0 and shown["cursor"]["uidvalidity"] > 0
    assert shown["totals"]["runs"] == 4 and shown["totals"]["accepted"] == 5
    assert shown["last_run"]["duplicates"] == 5 and shown["last_run"]["error"] is None
    # At rest, the password is a Fernet token that only the configured key opens.
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT secrets FROM connectors WHERE id = %s", (connector["id"],)
        ).fetchone()
    assert row is not None and IMAP_PASSWORD not in row["secrets"]
    assert IMAP_PASSWORD in SecretBox(settings.secret_key).decrypt(row["secrets"])


def test_a_failing_connector_never_blocks_the_others(
    api: str,
    settings: Settings,
    db: Database,
    imap_server: ImapServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant = make_tenant(db)
    folder = Path(settings.connector_folder_root or "") / f"drop-{tenant.name}"
    folder.mkdir()
    (folder / "rows.jsonl").write_text(
        '{"text": "Nhân viên rất nhiệt tình", "channel": "review"}\n', encoding="utf-8"
    )
    wrong_password = "wrong-pass-3141"
    closed_port = imap_connector(imap_server, "nobody-listens", "INBOX", "x" * 12)
    closed_port["config"]["port"] = free_port()
    with httpx.Client(base_url=api, timeout=60) as http:
        for body in (
            imap_connector(imap_server, "wrong-password", "INBOX", wrong_password),
            closed_port,
            {"kind": "folder", "name": "drop", "config": {"path": folder.name}},
        ):
            reply = http.post("/v1/connectors", json=body, headers=tenant.headers)
            assert reply.status_code == 201, reply.text

        # The periodic task's path: every due connector, each run isolated.
        with caplog.at_level(logging.DEBUG):
            runs = run_due(PullContext(db, settings, create_celery(settings)))
        listed = http.get("/v1/connectors", headers=tenant.headers).json()["items"]
    assert len(runs) >= 3
    state = {c["name"]: c["last_run"] for c in listed}
    assert state["wrong-password"]["status"] == "error"
    assert "login failed" in state["wrong-password"]["error"]
    assert state["nobody-listens"]["status"] == "error"
    assert "ConnectionRefusedError" in state["nobody-listens"]["error"]
    assert state["drop"]["status"] == "ok" and state["drop"]["accepted"] == 1
    assert wrong_password not in caplog.text


def test_drop_folder_files_are_loaded_once_and_moved_aside(
    api: str, settings: Settings, db: Database, tmp_path: Path
) -> None:
    tenant = make_tenant(db)
    folder = Path(settings.connector_folder_root or "") / f"drop-{tenant.name}"
    folder.mkdir()
    csv_text = (
        "text,channel,external_id,store\n"
        "Giao hàng nhanh,review,r-1,HCM\n"
        "The refund took three weeks,email,,Hanoi\n"
    )
    (folder / "reviews.csv").write_text(csv_text, encoding="utf-8")
    (folder / "social.jsonl").write_text(
        '{"text": "App lỗi khi thanh toán", "channel": "social"}\n'
        "not json\n"
        '{"channel": "social"}\n'
        '{"text": "Great support", "channel": "social", "external_id": "s-9"}\n',
        encoding="utf-8",
    )
    (folder / ".upload.csv").write_text(csv_text, encoding="utf-8")  # still being written
    # "Giá quá cao" as Latin-1, which is not UTF-8.
    (folder / "export-latin1.csv").write_bytes(b"text,channel\nGi\xe1 qu\xe1 cao,review\n")
    with httpx.Client(base_url=api, timeout=60) as http:
        outside = http.post(
            "/v1/connectors",
            json={"kind": "folder", "name": "escape", "config": {"path": "../.."}},
            headers=tenant.headers,
        )
        assert outside.status_code == 422 and outside.json()["error"]["code"] == "invalid_folder"
        created = http.post(
            "/v1/connectors",
            json={"kind": "folder", "name": "drop", "config": {"path": folder.name}},
            headers=tenant.headers,
        ).json()
        first = run(http, tenant, created["id"])
        assert (first["fetched"], first["accepted"], first["rejected"]) == (6, 4, 2), first
        shown = http.get(f"/v1/connectors/{created['id']}", headers=tenant.headers).json()
        assert shown["last_run"]["rejections"] == first["rejections"]
        reasons = {r["item"]: r["reason"] for r in first["rejections"]}
        assert set(reasons) == {"social.jsonl:2", "social.jsonl:3"}
        assert reasons["social.jsonl:2"].startswith("invalid_json: ")
        assert reasons["social.jsonl:3"].startswith("validation_error: text: ")
        # A file that is not UTF-8 is set aside and named; the others were still loaded.
        assert first["status"] == "error"
        assert first["error"].startswith("ValueError: moved to failed/: export-latin1.csv:")
        assert sorted(p.name for p in (folder / "processed").iterdir()) == [
            "reviews.csv",
            "social.jsonl",
        ]
        assert [p.name for p in (folder / "failed").iterdir()] == ["export-latin1.csv"]
        assert (folder / ".upload.csv").exists()
        # The same file dropped again (rows without an external_id included) adds nothing.
        (folder / "reviews.csv").write_text(csv_text, encoding="utf-8")
        second = run(http, tenant, created["id"])
        assert (second["fetched"], second["accepted"], second["duplicates"]) == (2, 0, 2)
        assert second["status"] == "ok"
        assert len(list((folder / "processed").iterdir())) == 3
        items = http.get("/v1/feedback", headers=tenant.headers).json()["items"]
    assert len(items) == 4
    csv_item = next(i for i in items if i["external_id"] == "r-1")
    assert csv_item["source"] == "folder" and csv_item["metadata"] == {"store": "HCM"}


def test_credentials_need_the_secret_key(client: httpx.Client, db: Database) -> None:
    tenant = make_tenant(db)
    body = {
        "kind": "imap",
        "name": "mailbox",
        "config": {"host": "127.0.0.1", "username": "u", "password": "p" * 12},
    }
    reply = client.post("/v1/connectors", json=body, headers=tenant.headers)
    assert reply.status_code == 409
    error = reply.json()["error"]
    assert error["code"] == "secret_key_missing" and "LANGNGHE_SECRET_KEY" in error["message"]
    folder = client.post(
        "/v1/connectors",
        json={"kind": "folder", "name": "drop", "config": {"path": "x"}},
        headers=tenant.headers,
    )
    assert folder.status_code == 409
    assert "LANGNGHE_CONNECTOR_FOLDER_ROOT" in folder.json()["error"]["message"]
    assert client.get("/v1/connectors", headers=tenant.headers).json() == {"items": []}


def test_bad_connector_bodies_get_clear_4xx(api: str, db: Database) -> None:
    tenant = make_tenant(db)
    with httpx.Client(base_url=api, timeout=30) as http:
        unknown = http.post(
            "/v1/connectors",
            json={"kind": "ftp", "name": "x", "config": {}},
            headers=tenant.headers,
        )
        assert unknown.status_code == 422
        assert unknown.json()["error"]["code"] == "validation_error"
        private = http.post(
            "/v1/connectors",
            json={
                "kind": "imap",
                "name": "internal",
                "config": {"host": "10.0.0.5", "username": "u", "password": "p" * 12},
            },
            headers=tenant.headers,
        )
        assert private.status_code == 422 and private.json()["error"]["code"] == "unsafe_target"
        body = {"kind": "folder", "name": "dup", "config": {"path": "."}}
        assert http.post("/v1/connectors", json=body, headers=tenant.headers).status_code == 201
        taken = http.post("/v1/connectors", json=body, headers=tenant.headers)
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "name_taken"
        missing = http.post(
            "/v1/connectors/00000000-0000-0000-0000-000000000000/run", headers=tenant.headers
        )
        assert missing.status_code == 404
        connector_id = http.get("/v1/connectors", headers=tenant.headers).json()["items"][0]["id"]
        deleted = http.delete(f"/v1/connectors/{connector_id}", headers=tenant.headers)
        assert deleted.status_code == 204
        assert http.get("/v1/connectors", headers=tenant.headers).json() == {"items": []}


def test_a_worker_without_the_key_says_so_at_start_and_in_the_run(
    api: str, settings: Settings, db: Database, imap_server: ImapServer
) -> None:
    tenant = make_tenant(db)
    with httpx.Client(base_url=api, timeout=30) as http:
        created = http.post(
            "/v1/connectors",
            json=imap_connector(imap_server, "keyless", "INBOX", IMAP_PASSWORD),
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
    assert secret_key_problem(settings) is None
    keyless = settings.model_copy(update={"secret_key": None})
    problem = secret_key_problem(keyless)
    assert problem is not None and "LANGNGHE_SECRET_KEY is not set" in problem
    runs = run_due(PullContext(db, keyless, create_celery(keyless)))
    mine = [r for r in runs if r["error"] and "SecretKeyMissing" in r["error"]]
    assert mine, runs
    assert all(IMAP_PASSWORD not in (r["error"] or "") for r in runs)
