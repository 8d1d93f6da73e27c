"""The connectors' pure parts: e-mail to feedback rows, help-desk bodies, webhook checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from uuid import uuid4

import pytest

from api.connectors.service import signature_ok, ticket_status
from api.errors import ApiError
from langnghe.config import Settings
from workers.celery_app import (
    CONNECTORS_PULL_TASK,
    CONTROL_QUEUE,
    HELPDESK_TICKETS_TASK,
    create_celery,
)
from workers.connectors import email_row, folder_path, html_text
from workers.helpdesk import complaint_tag, freshdesk_requests, zendesk_requests


def test_email_row_prefers_the_plain_part_and_keeps_the_headers() -> None:
    message = EmailMessage()
    message["From"] = "Bình <Binh@Example.VN>"
    message["Subject"] = "Hoàn tiền"
    message["Date"] = "Tue, 01 Dec 2026 09:30:00 +0700"
    message["Message-ID"] = "<x1@example.vn>"
    message.set_content("Chưa nhận được tiền hoàn.\r\nCảm ơn")
    message.add_alternative("<p>HTML version</p>", subtype="html")
    row = email_row(message.as_bytes(), "imap:1:7", "vi")
    assert row["text"] == "Chưa nhận được tiền hoàn.\nCảm ơn"
    assert row["external_id"] == "<x1@example.vn>"
    assert row["customer_ref"] == "binh@example.vn"
    assert row["occurred_at"] == datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    assert row["metadata"] == {"subject": "Hoàn tiền"} and row["language"] == "vi"


def test_email_row_reads_html_and_falls_back_without_id_or_date() -> None:
    message = EmailMessage()
    message["From"] = "x@y.test"
    message.set_content(
        "<style>p{}</style><p>App <b>lỗi</b></p><script>alert(1)</script><p>khi mở</p>",
        subtype="html",
    )
    row = email_row(message.as_bytes(), "imap:5:9")
    assert row["text"] == "App lỗi\n\nkhi mở"
    assert row["external_id"] == "imap:5:9"
    assert "occurred_at" not in row and row["metadata"] == {}


def test_html_text_drops_scripts_and_styles() -> None:
    assert html_text("<div>a</div><script>x</script><style>y</style>b") == "\na\nb"


def test_folders_stay_under_the_root(tmp_path: Path) -> None:
    assert folder_path(tmp_path, "shop/in") == tmp_path.resolve() / "shop" / "in"
    with pytest.raises(ValueError, match="under"):
        folder_path(tmp_path, "../elsewhere")
    with pytest.raises(ValueError, match="LANGNGHE_CONNECTOR_FOLDER_ROOT"):
        folder_path(None, "shop")


def test_ticket_status_reads_each_vendors_shapes() -> None:
    event = {"detail": {"id": "35", "status": "OPEN"}, "event": {"current": "SOLVED"}}
    assert ticket_status("zendesk", event) == ("35", "solved")
    assert ticket_status("zendesk", {"ticket_id": "35", "status": "Pending"}) == (
        "35",
        "pending",
    )
    nested = {"freshdesk_webhook": {"ticket_id": 12, "ticket_status": "Closed"}}
    assert ticket_status("freshdesk", nested) == ("12", "closed")
    with pytest.raises(ApiError) as refused:
        ticket_status("freshdesk", {"ticket_id": 12})
    assert refused.value.status == 422


def _zendesk_headers(secret: str, body: bytes, at: datetime) -> dict[str, str]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }


def test_signatures() -> None:
    body = b'{"ticket_id": "1", "status": "solved"}'
    now = datetime.now(UTC)
    assert signature_ok("zendesk", "s3cret", _zendesk_headers("s3cret", body, now), body)
    assert not signature_ok("zendesk", "s3cret", _zendesk_headers("other", body, now), body)
    assert not signature_ok("zendesk", "s3cret", _zendesk_headers("s3cret", body + b" ", now), body)
    stale = _zendesk_headers("s3cret", body, now - timedelta(hours=2))
    assert not signature_ok("zendesk", "s3cret", stale, body)
    assert signature_ok("freshdesk", "tok", {"X-Langnghe-Webhook-Token": "tok"}, body)
    assert not signature_ok("freshdesk", "tok", {}, body)


def _complaint(priority: str, customer_ref: str | None) -> dict[str, object]:
    return {
        "id": uuid4(),
        "priority": priority,
        "category": "Giao hàng trễ",
        "text": "Đơn   hàng\ngiao trễ",
        "customer_ref": customer_ref,
        "analysis": {"sentiment": "negative", "sentiment_score": 0.8},
        "reasons": ["complaint_model"],
    }


def test_vendor_bodies_map_priority_tags_and_requester() -> None:
    complaint = _complaint("p4", "kh@shop.test")
    lookup, create = zendesk_requests(
        {"base_url": "https://acme.zendesk.com/", "email": "a@acme.test"},
        {"api_token": "t"},
        complaint,
    )
    assert create.url == "https://acme.zendesk.com/api/v2/tickets.json"
    assert lookup.url.endswith(f"/api/v2/tickets.json?external_id={complaint['id']}")
    assert (
        create.headers["Authorization"]
        == "Basic " + base64.b64encode(b"a@acme.test/token:t").decode()
    )
    assert create.body is not None
    ticket = create.body["ticket"]
    assert ticket["priority"] == "low" and ticket["tags"] == ["giao_hàng_trễ", "sentiment_negative"]
    assert ticket["subject"] == "[p4] Giao hàng trễ: Đơn hàng giao trễ"
    assert ticket["requester"]["email"] == "kh@shop.test"

    walk_in = _complaint("p1", "customer 42")
    _, create = freshdesk_requests(
        {"base_url": "https://acme.freshdesk.com", "requester_email": "cx@acme.test"},
        {"api_key": "k"},
        walk_in,
    )
    assert create.headers["Authorization"] == "Basic " + base64.b64encode(b"k:X").decode()
    assert create.body is not None
    assert (create.body["priority"], create.body["status"]) == (4, 2)
    assert create.body["email"] == "cx@acme.test"
    tag = complaint_tag(walk_in["id"])  # type: ignore[arg-type]
    assert len(tag) == 32 and tag in create.body["tags"]


def test_beat_runs_the_connector_tasks_on_the_control_queue() -> None:
    settings = Settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        connector_poll_interval_s=12,
        deliver_interval_s=3,
    )
    conf = create_celery(settings).conf
    assert conf.beat_schedule["connectors-pull"] == {
        "task": CONNECTORS_PULL_TASK,
        "schedule": 12,
    }
    assert conf.beat_schedule["helpdesk-tickets"] == {"task": HELPDESK_TICKETS_TASK, "schedule": 3}
    for task in (CONNECTORS_PULL_TASK, HELPDESK_TICKETS_TASK):
        assert conf.task_routes[task] == {"queue": CONTROL_QUEUE}
    assert "workers.connector_tasks" in conf.include
